"""Recipient identifiers printed on mail pieces.

- redemption token: the PURL key, 128 random bits, URL-safe (22 characters);
- short code: for people who type it in: 10 characters from an alphabet without look-alikes
  (no 0/O, 1/I/L), about 49 bits, shown as XXXXX-XXXXX.
Both are unique across all campaigns (database constraints); the rare collision is retried.
"""

import re
import secrets

SHORT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
SHORT_CODE_LENGTH = 10
_SHORT_CODE_INPUT_NOISE = re.compile(r"[\s-]+")
_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_redemption_token():
    return secrets.token_urlsafe(16)


def new_short_code():
    # One draw from the whole code space (uniform), written in base 31: a tenth of the random-source calls.
    number, digits = secrets.randbelow(len(SHORT_CODE_ALPHABET) ** SHORT_CODE_LENGTH), []
    for _ in range(SHORT_CODE_LENGTH):
        number, digit = divmod(number, len(SHORT_CODE_ALPHABET))
        digits.append(SHORT_CODE_ALPHABET[digit])
    return "".join(digits)


def format_short_code(code):
    half = SHORT_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_short_code(typed):
    """What a person typed ("abcde fghjk", "ABCDE-FGHJK") as the stored code, or None if impossible."""
    code = _SHORT_CODE_INPUT_NOISE.sub("", typed or "").upper()
    if len(code) != SHORT_CODE_LENGTH or any(char not in SHORT_CODE_ALPHABET for char in code):
        return None
    return code


def looks_like_token(value):
    return bool(_TOKEN_PATTERN.match(value or ""))
