import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase

from campaigns.models import ImportJob
from giftcards.crypto import decrypt_code
from giftcards.models import GiftCard, GiftCardLog
from giftcards.tests.factories import GiftCardPoolFactory, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(tenant_a):
    return GiftCardPoolFactory(client=tenant_a.client)


def _upload(client, pool, text, **extra):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(f"/api/v1/gift-card-pools/{pool.pk}/cards/import/",
                           {"file": SimpleUploadedFile("codes.csv", text.encode()), **extra}, format="multipart")


def _report(job):
    with job.error_report.open("rb") as handle:
        return [(r["row"], r["reason"]) for r in csv.DictReader(io.StringIO(handle.read().decode()))]


def test_codes_are_encrypted_hashed_and_logged(key_client, pool):
    response = _upload(key_client, pool, "Card Code,Expiry\nAAAA-1111-ZZZ9,2031-01-31\n BBBB-2222-YYY8 ,\n")
    assert response.status_code == 202
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.rows_imported, job.kind, job.pool) == ("completed", 2, "gift_cards", pool)
    cards = list(GiftCard.objects.filter(pool=pool).order_by("pk"))
    assert [decrypt_code(card.code_encrypted) for card in cards] == ["AAAA-1111-ZZZ9", "BBBB-2222-YYY8"]
    assert [card.last4 for card in cards] == ["ZZZ9", "YYY8"]
    assert str(cards[0].expires_on) == "2031-01-31" and cards[1].expires_on is None
    assert GiftCardLog.objects.filter(action="imported").count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM gift_cards")
        dump = str(cursor.fetchall())
    assert "AAAA-1111" not in dump and "BBBB-2222" not in dump


def test_duplicates_in_the_file_and_already_stored_are_reported(key_client, pool, tenant_b):
    stock(GiftCardPoolFactory(client=tenant_b.client), 1, prefix="TAKEN")
    job_id = _upload(key_client, pool, "code\nNEW-00001\nTAKEN-000000\nNEW-00001\nNEW-00002\n").json()["id"]
    job = ImportJob.objects.get(pk=job_id)
    assert (job.rows_imported, job.rows_duplicate) == (2, 2)
    assert _report(job) == [("3", "this code is already stored"), ("4", "duplicate of row 2")]


def test_invalid_rows_reject_the_upload_by_default(key_client, pool):
    job_id = _upload(key_client, pool, "code,expires_on\nGOOD-0001,\nX,\nGOOD-0002,2001-01-01\nGOOD-0003,soon\n").json()["id"]
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.rows_invalid, job.rows_imported) == ("failed", 3, 0)
    assert not GiftCard.objects.exists()
    assert [row for row, _ in _report(job)] == ["3", "4", "5"]
    skipped = ImportJob.objects.get(pk=_upload(key_client, pool, "code\nGOOD-0001\nX\n", on_error="skip").json()["id"])
    assert (skipped.status, skipped.rows_imported, skipped.rows_invalid) == ("completed", 1, 1)


def test_a_file_without_a_code_column_is_refused_at_upload(key_client, pool):
    response = _upload(key_client, pool, "number,pin,card_number\n1,2,3\n")
    assert response.status_code == 400
    assert "exactly one code column" in response.json()["error"]["message"]


def test_only_managers_of_the_pool_can_upload(api_client, pool, tenant_a, tenant_b):
    api_client.force_login(tenant_a.member)
    assert _upload(api_client, pool, "code\nAAAA-0001\n").status_code == 403
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert _upload(api_client, pool, "code\nAAAA-0001\n").status_code == 404
