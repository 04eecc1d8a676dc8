import itertools
import math
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import TestCase

from campaigns import imports, services
from campaigns.models import ImportJob, Recipient
from campaigns.normalize import normalize_email, normalize_phone
from campaigns.services import create_recipient, start_recipient_import
from campaigns.tests.factories import CampaignFactory, csv_bytes, person
from campaigns.tokens import (
    SHORT_CODE_ALPHABET,
    SHORT_CODE_LENGTH,
    format_short_code,
    new_redemption_token,
    new_short_code,
    normalize_short_code,
)


def test_redemption_tokens_are_url_safe_and_carry_at_least_64_random_bits():
    tokens = {new_redemption_token() for _ in range(10_000)}
    assert len(tokens) == 10_000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", token) for token in tokens)
    assert 22 * 6 >= 128  # 16 random bytes, base64url


def test_short_codes_avoid_look_alike_characters():
    assert not set("01ILO") & set(SHORT_CODE_ALPHABET)
    codes = {new_short_code() for _ in range(10_000)}
    assert len(codes) == 10_000
    assert all(len(code) == SHORT_CODE_LENGTH and set(code) <= set(SHORT_CODE_ALPHABET) for code in codes)
    assert SHORT_CODE_LENGTH * math.log2(len(SHORT_CODE_ALPHABET)) > 48


@pytest.mark.parametrize("typed", ["abcde fghjk", "ABCDE-FGHJK", " abcdefghjk ", "ABCDE–FGHJK".replace("–", "-")])
def test_typed_codes_are_normalised(typed):
    assert normalize_short_code(typed) == "ABCDEFGHJK"


@pytest.mark.parametrize("typed", ["", "ABCDE", "ABCDE-FGHJI", "ABCDE-FGHJKL", "ABCDE-FGHJ0"])
def test_impossible_codes_are_refused(typed):
    assert normalize_short_code(typed) is None


def test_format_short_code():
    assert format_short_code("ABCDEFGHJK") == "ABCDE-FGHJK"


@pytest.mark.parametrize(("raw", "e164"), [
    ("(617) 555-0134", "+16175550134"), ("617.555.0134", "+16175550134"), ("1 617 555 0134", "+16175550134"),
    ("+1 617-555-0134", "+16175550134"), ("+44 20 7946 0958", "+442079460958"), ("(416) 555-0199", "+14165550199"),
    ("", ""),
])
def test_phones_are_normalised_to_e164(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12345", "555-0134", "(000) 555-0134", "call me", "+1 617 555 01345"])
def test_bad_phones_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_emails_are_validated_and_domains_lowercased():
    assert normalize_email(" Ann.Lee+promo@Example.COM ") == "Ann.Lee+promo@example.com"
    assert normalize_email("ann@exÄmple.com") == "ann@exämple.com"
    for bad in ("ann@", "a..b@example.com", "ann@example", "ann example@x.com"):
        with pytest.raises(ValidationError):
            normalize_email(bad)


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_token_or_code(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    first = create_recipient(campaign=campaign, last_name="A", address1="1 Main", city="X", postal_code="1")
    for field in ("redemption_token", "short_code"):
        clash = Recipient(campaign=campaign, last_name="B", address1="2 Main", city="X", postal_code="1",
                          dedupe_hash=2, redemption_token=new_redemption_token(), short_code=new_short_code())
        setattr(clash, field, getattr(first, field))
        with pytest.raises(IntegrityError), transaction.atomic():
            clash.save()


@pytest.mark.django_db
def test_a_colliding_code_is_drawn_again_on_create(tenant_a, monkeypatch):
    campaign = CampaignFactory(client=tenant_a.client)
    first = create_recipient(campaign=campaign, last_name="A", address1="1 Main", city="X", postal_code="1")
    draws = itertools.chain([first.short_code], iter(new_short_code, None))
    monkeypatch.setattr(services, "new_short_code", lambda: next(draws))
    second = create_recipient(campaign=campaign, last_name="B", address1="2 Main", city="X", postal_code="1")
    assert second.short_code != first.short_code


@pytest.mark.django_db
def test_an_import_whose_code_collides_is_retried_and_completes(tenant_a, monkeypatch):
    campaign = CampaignFactory(client=tenant_a.client)
    existing = create_recipient(campaign=campaign, last_name="A", address1="1 Main", city="X", postal_code="1")
    draws = itertools.chain([existing.short_code], iter(new_short_code, None))
    monkeypatch.setattr(imports, "new_short_code", lambda: next(draws))
    upload = csv_bytes([person(n) for n in range(1, 11)])
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = start_recipient_import(campaign=campaign, uploaded_file=_file(upload), on_error="reject")
    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.rows_imported) == ("completed", 10)
    assert campaign.recipients.count() == 11


def _file(data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("list.csv", data, "text/csv")
