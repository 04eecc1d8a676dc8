"""Idempotency-Key on every creating POST: replayed for a retry, refused for a different request."""

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.client import encode_multipart
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import create_api_key
from campaigns.models import Campaign, ImportJob
from giftcards.tests.test_redemption import REDEEM, setup  # noqa: F401  (a pool, its cards, a live campaign)
from mobul.idempotency import PENDING_SECONDS, IdempotencyMiddleware, cache_key, fingerprint

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns/"
TEMPLATES = "/api/v1/templates/"


def _post(client, url, body, key, **extra):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def test_a_retry_gets_the_first_response_and_creates_nothing(key_client):
    first = _post(key_client, CAMPAIGNS, {"name": "Spring"}, "c-1")
    again = _post(key_client, CAMPAIGNS, {"name": "Spring"}, "c-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Campaign.objects.filter(name="Spring").count() == 1


def test_without_a_key_every_post_counts(key_client):
    assert key_client.post(CAMPAIGNS, {"name": "T"}, format="json").status_code == 201
    assert key_client.post(CAMPAIGNS, {"name": "T"}, format="json").status_code == 201
    assert Campaign.objects.filter(name="T").count() == 2


def test_the_same_key_for_a_different_request_is_a_409(key_client):
    _post(key_client, CAMPAIGNS, {"name": "Spring"}, "c-1")
    reused = _post(key_client, CAMPAIGNS, {"name": "Autumn"}, "c-1")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = _post(key_client, TEMPLATES, {"name": "Spring"}, "c-1")
    assert elsewhere.status_code == 409
    assert not Campaign.objects.filter(name="Autumn").exists()


def test_keys_belong_to_their_caller(key_client, tenant_a, tenant_b):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    mine = _post(key_client, CAMPAIGNS, {"name": "Spring"}, "shared-key")
    theirs = _post(other, CAMPAIGNS, {"name": "Spring"}, "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert not theirs.has_header("Idempotent-Replayed")


def test_errors_are_replayed_too_but_server_errors_free_the_key(key_client):
    bad = _post(key_client, CAMPAIGNS, {"name": ""}, "k")
    assert bad.status_code == 400
    assert _post(key_client, CAMPAIGNS, {"name": ""}, "k")["Idempotent-Replayed"] == "true"


def test_a_retry_while_the_first_is_still_running_is_told_to_wait(key_client, tenant_a):
    # The first request holds the key (as while its view runs) until its response is stored.
    request = RequestFactory().post(CAMPAIGNS, HTTP_AUTHORIZATION=f"Bearer {tenant_a.raw_key}")
    held = cache_key(request, "busy", request_fingerprint=None)  # a credential's keys do not depend on the request
    body = {"name": "Spring"}
    first = _post(key_client, CAMPAIGNS, body, "busy")
    stored = cache.get(held)
    cache.set(held, {"fingerprint": stored["fingerprint"]}, PENDING_SECONDS)  # back to "in progress"
    waiting = _post(key_client, CAMPAIGNS, body, "busy")
    assert first.status_code == 201
    assert waiting.status_code == 409 and waiting["Retry-After"] == "1"
    assert waiting.json()["error"]["code"] == "idempotency_key_in_use"


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_a_malformed_key_is_a_400(key_client, key):
    response = _post(key_client, CAMPAIGNS, {"name": "Spring"}, key)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert not Campaign.objects.exists()


def test_uploads_are_covered(key_client, tenant_a):
    campaign = Campaign.objects.create(client=tenant_a.client, name="Spring")
    url = f"/api/v1/campaigns/{campaign.pk}/recipients/import/"

    def upload():
        csv = b"first_name,last_name,address1,city,postal_code\nAnn,Lee,1 Main St,Boston,02108\n"
        return key_client.post(url, {"file": SimpleUploadedFile("people.csv", csv, "text/csv")},
                               format="multipart", HTTP_IDEMPOTENCY_KEY="upload-1")

    assert upload().status_code == 202
    assert upload()["Idempotent-Replayed"] == "true"
    assert ImportJob.objects.count() == 1


def test_the_schema_documents_the_header(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    post = schema["paths"]["/api/v1/campaigns/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert all(p["name"] != "Idempotency-Key" for p in schema["paths"]["/api/v1/campaigns/"]["get"]["parameters"])


@pytest.mark.django_db(transaction=True)
def test_two_racing_retries_create_one_object(tenant_a):
    _, raw_key = create_api_key(client=tenant_a.client, name="race", scopes=["read", "write"])
    results, barrier = [], threading.Barrier(4)

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        barrier.wait()
        try:
            results.append(_post(client, CAMPAIGNS, {"name": "Race"}, "race-1").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Campaign.objects.filter(name="Race").count() == 1
    assert results.count(201) >= 1 and set(results) <= {201, 409}


# --- what the fingerprint covers ----------------------------------------------------------------

PEOPLE_CSV = b"first_name,last_name,address1,city,postal_code\nAnn,Lee,1 Main St,Boston,02108\n"


@pytest.fixture
def import_url(tenant_a):
    campaign = Campaign.objects.create(client=tenant_a.client, name="Spring")
    return f"/api/v1/campaigns/{campaign.pk}/recipients/import/"


def _upload(client, url, *, key="upload-1", boundary="first-boundary", content=PEOPLE_CSV, name="people.csv",
            content_type="text/csv", fields=None):
    """A multipart POST framed with `boundary`, as two sends of one request by a real client would differ."""
    body = encode_multipart(boundary, {"file": SimpleUploadedFile(name, content, content_type), **(fields or {})})
    return client.generic("POST", url, body, content_type=f"multipart/form-data; boundary={boundary}",
                          HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_upload_sent_again_with_another_boundary_is_a_replay(key_client, import_url):
    first = _upload(key_client, import_url, boundary="first-boundary")
    again = _upload(key_client, import_url, boundary="second-boundary")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize("change", [
    {"content": PEOPLE_CSV + b"Bob,Ray,2 Main St,Boston,02108\n"},
    {"name": "other.csv"},
    {"content_type": "application/vnd.ms-excel"},
    {"fields": {"on_error": "skip"}},
], ids=["file contents", "file name", "content type", "form field"])
def test_another_upload_under_the_same_key_is_a_409_and_is_not_imported(key_client, import_url, change):
    assert _upload(key_client, import_url).status_code == 202
    reused = _upload(key_client, import_url, boundary="second-boundary", **change)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert ImportJob.objects.count() == 1


def test_a_file_spooled_to_disk_is_fingerprinted_to_its_last_byte(key_client, import_url, settings):
    big = PEOPLE_CSV + b"".join(b"Ann,Lee,%d Main St,Boston,02108\n" % n for n in range(120_000))
    assert len(big) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    assert _upload(key_client, import_url, content=big).status_code == 202
    assert _upload(key_client, import_url, content=big, boundary="b2")["Idempotent-Replayed"] == "true"
    changed = big[:-2] + b"9\n"
    assert _upload(key_client, import_url, content=changed, boundary="b3").status_code == 409
    assert ImportJob.objects.count() == 1


def test_an_upload_larger_than_any_import_is_refused_before_it_is_read(key_client, import_url, settings):
    settings.IMPORT_MAX_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _upload(key_client, import_url, content=PEOPLE_CSV * 40)
    # Refused on its Content-Length, before the body is parsed.
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert ImportJob.objects.count() == 0


def test_an_upload_from_a_caller_without_a_valid_key_is_not_read_for_its_key(api_client, import_url, monkeypatch):
    def read_anyway(request):
        raise AssertionError("the body of an unauthenticated upload was read")
    monkeypatch.setattr("mobul.idempotency._read_fingerprint", read_anyway)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer mbl_unknown_key")
    response = _upload(api_client, import_url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert ImportJob.objects.count() == 0


def test_a_broken_multipart_body_is_a_400_in_the_error_shape(key_client, import_url):
    response = key_client.generic("POST", import_url, b"--b\r\n\r\nno boundary announced",
                                  content_type="multipart/form-data", HTTP_IDEMPOTENCY_KEY="broken")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_oversized_json_body_with_a_key_is_a_413_in_the_error_shape(key_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _post(key_client, CAMPAIGNS, {"name": "x" * 2000}, "big")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_query_string_is_part_of_the_request(key_client):
    assert _post(key_client, CAMPAIGNS, {"name": "Spring"}, "q").status_code == 201
    reused = _post(key_client, CAMPAIGNS + "?client=1", {"name": "Spring"}, "q")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"


def test_the_method_is_part_of_the_fingerprint():
    factory = RequestFactory()
    post = factory.post(CAMPAIGNS, b'{"name": "Spring"}', content_type="application/json")
    put = factory.put(CAMPAIGNS, b'{"name": "Spring"}', content_type="application/json")
    assert fingerprint(post) != fingerprint(put)
    assert fingerprint(post) == fingerprint(factory.post(CAMPAIGNS, b'{"name": "Spring"}',
                                                         content_type="application/json"))


# --- which answers are kept ---------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kept"), [
    (200, True), (201, True), (202, True), (204, True), (400, True), (405, True), (413, True), (415, True),
    (422, True), (401, False), (403, False), (404, False), (409, False), (429, False), (500, False), (503, False),
])
def test_successes_and_refusals_of_the_request_itself_are_kept_others_are_decided_again(status, kept):
    calls = []

    def view(request):
        calls.append(request)
        return HttpResponse(b'{"n": %d}' % len(calls), status=status, content_type="application/json")

    def send():
        return middleware(RequestFactory().post(CAMPAIGNS, b"{}", content_type="application/json",
                                                HTTP_AUTHORIZATION="Bearer mbl_some_key", HTTP_IDEMPOTENCY_KEY="s"))

    middleware = IdempotencyMiddleware(view)
    first, again = send(), send()
    assert first.status_code == again.status_code == status
    assert len(calls) == (1 if kept else 2)
    assert again.has_header("Idempotent-Replayed") is kept


def test_a_rate_limited_request_is_not_replayed_once_the_limit_allows_it(key_client, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "1/m"}
    assert key_client.get(CAMPAIGNS).status_code == 200
    assert _post(key_client, CAMPAIGNS, {"name": "Spring"}, "rl").status_code == 429
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "100/m"}
    retry = _post(key_client, CAMPAIGNS, {"name": "Spring"}, "rl")
    assert retry.status_code == 201 and not retry.has_header("Idempotent-Replayed")
    assert Campaign.objects.filter(name="Spring").count() == 1


def test_a_conflict_is_decided_again_once_the_state_moved(key_client, tenant_a):
    campaign = Campaign.objects.create(client=tenant_a.client, name="Spring")
    url = f"{CAMPAIGNS}{campaign.pk}/transition/"
    assert _post(key_client, url, {"to": "paused"}, "t").status_code == 409  # only a live campaign pauses
    Campaign.objects.filter(pk=campaign.pk).update(status="active")  # it went live meanwhile
    retry = _post(key_client, url, {"to": "paused"}, "t")
    assert retry.status_code == 200 and retry.json()["status"] == "paused"


def test_a_refused_scope_is_decided_again_once_the_key_may_write(tenant_a):
    api_key, raw_key = create_api_key(client=tenant_a.client, name="reader", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert _post(client, CAMPAIGNS, {"name": "Spring"}, "w").status_code == 403
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=["read", "write"])
    assert _post(client, CAMPAIGNS, {"name": "Spring"}, "w").status_code == 201


# --- stored answers are sealed; public callers are kept apart --------------------------------------

def _redeem(token, key, ip="203.0.113.7"):
    return APIClient().post(REDEEM, {"token": token}, format="json", HTTP_IDEMPOTENCY_KEY=key, REMOTE_ADDR=ip)


def _stored_values():
    redis = get_redis_connection("default")
    return [redis.get(name) for name in redis.scan_iter(match="*idempotency*")]


def test_a_kept_redemption_holds_no_card_code_in_clear(setup):  # noqa: F811
    _, codes, _, (person, *_) = setup
    first = _redeem(person.redemption_token, "r-1")
    code = first.json()["code"]
    assert first.status_code == 201 and code in codes

    stored = _stored_values()
    assert stored, "the answer was kept"
    encodings = {code.encode(), base64.b64encode(code.encode()), code.encode().hex().encode(),
                 base64.b64encode(first.content)[:24], first.content[:24]}
    for value in stored:
        assert not any(form in value for form in encodings)
        assert person.redemption_token.encode() not in value
    again = _redeem(person.redemption_token, "r-1")
    assert again["Idempotent-Replayed"] == "true" and again.json()["code"] == code


def test_public_callers_do_not_share_one_key_space(setup):  # noqa: F811
    _, _, _, (ann, bob, *_) = setup
    first = _redeem(ann.redemption_token, "same-key", ip="203.0.113.7")
    # Another person (token) from the same address, and the same person from another address.
    other_person = _redeem(bob.redemption_token, "same-key", ip="203.0.113.7")
    other_address = _redeem(ann.redemption_token, "same-key", ip="198.51.100.2")
    assert first.status_code == other_person.status_code == 201
    assert other_person.json()["code"] != first.json()["code"]
    assert other_address.status_code == 200 and not other_address.has_header("Idempotent-Replayed")
    assert _redeem(ann.redemption_token, "same-key", ip="203.0.113.7")["Idempotent-Replayed"] == "true"


def test_a_kept_answer_sealed_with_a_retired_secret_key(key_client, settings):
    assert _post(key_client, CAMPAIGNS, {"name": "Spring"}, "rot").status_code == 201
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert _post(key_client, CAMPAIGNS, {"name": "Spring"}, "rot")["Idempotent-Replayed"] == "true"
    settings.SECRET_KEY_FALLBACKS = []
    # Unreadable now: the request is not run a second time, and the caller is told why.
    unreadable = _post(key_client, CAMPAIGNS, {"name": "Spring"}, "rot")
    assert unreadable.status_code == 409 and unreadable.json()["error"]["code"] == "idempotency_key_unreadable"
    assert Campaign.objects.filter(name="Spring").count() == 1


def test_former_secret_keys_come_from_the_environment():
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.SECRET_KEY_FALLBACKS)"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mobul.settings", "SECRET_KEY_FALLBACKS": "old-one, older-one"})
    assert shown.stdout.strip() == "['old-one', 'older-one']", shown.stderr
