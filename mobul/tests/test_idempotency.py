"""Idempotency-Key on every creating POST: replayed for a retry, refused for a different request."""

import hashlib
import threading

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import create_api_key
from campaigns.models import Campaign, ImportJob
from mobul.idempotency import PENDING_SECONDS, _caller

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
    request = type("R", (), {"headers": {"Authorization": f"Bearer {tenant_a.raw_key}"}})()
    cache_key = f"idempotency:{_caller(request)}:{hashlib.sha256(b'busy').hexdigest()}"
    body = {"name": "Spring"}
    first = _post(key_client, CAMPAIGNS, body, "busy")
    stored = cache.get(cache_key)
    cache.set(cache_key, {"fingerprint": stored["fingerprint"]}, PENDING_SECONDS)  # back to "in progress"
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
