"""Fast, strict normalisation of recipient contact data, shared by single creates and bulk imports.

Imports run this for every row of million-row files, so the common cases take a precompiled
fast path; anything unusual falls back to the full libraries (phonenumbers, Django's validator).
"""

import hashlib
import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

_NON_DIGITS = re.compile(r"\D")
_PHONE_CHARS = re.compile(r"^[\d\s().+\-]+$")
_US_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("US")
# Assigned US numbers (fixed-line and mobile share this pattern); other NANP areas fall back.
_US_NATIONAL = re.compile(f"(?:{_US_METADATA.fixed_line.national_number_pattern})")
# A strict subset of what Django's EmailValidator accepts: plain ASCII addresses.
_SIMPLE_EMAIL = re.compile(
    r"^[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_email_validator = EmailValidator()


def normalize_phone(raw, region=None):
    """E.164 form of `raw` ("" stays ""), or ValidationError with a readable reason."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    region = region or settings.DEFAULT_PHONE_REGION
    if region == "US" and _PHONE_CHARS.match(raw) and (raw[0] != "+" or raw.startswith("+1")):
        digits = _NON_DIGITS.sub("", raw)
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        if len(digits) == 10 and _US_NATIONAL.fullmatch(digits):
            return f"+1{digits}"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"{raw!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{raw!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(value):
    """A number as people dial it: +16175550134 is "(617) 555-0134" at home (DEFAULT_PHONE_REGION), +442079460958
    "+44 20 7946 0958" abroad; what is not a number stays as it is."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    home = phonenumbers.region_code_for_number(number) == settings.DEFAULT_PHONE_REGION
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_email(raw):
    email = (raw or "").strip()
    if not email:
        return ""
    if len(email) > 254:
        raise ValidationError("Email address is longer than 254 characters.")
    if not _SIMPLE_EMAIL.match(email):
        try:
            _email_validator(email)
        except ValidationError:
            raise ValidationError(f"{email!r} is not a valid email address.") from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def collapse(value):
    return " ".join((value or "").split())


def dedupe_hash(*, external_id="", first_name="", last_name="", company="", address1="", address2="",
                postal_code=""):
    """A signed 64-bit fingerprint of who a recipient is: their own id, or their name and address.

    Takes values already normalised (collapsed whitespace), as imports and create_recipient pass them.
    """
    if external_id:
        key = f"id\x1f{external_id.strip().lower()}"
    else:
        key = "\x1f".join(part.lower() for part in (first_name, last_name, company, address1, address2, postal_code))
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
