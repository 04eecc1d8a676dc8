"""Rate limits across the API, sign-in and public redemption, and what happens when Redis is unreachable."""

import logging

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.forms import TOO_MANY_ATTEMPTS
from accounts.services import create_api_key
from ops.tests.test_health import UNREACHABLE_CACHE

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
TEMPLATES = "/api/v1/templates/"


@pytest.fixture
def three_per_minute(settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "3/m", "login": "3/m"}


def _key_client(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_api_responses_say_how_many_requests_are_left(key_client, three_per_minute):
    responses = [key_client.get(ME) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r["X-RateLimit-Limit"] for r in responses] == ["3", "3", "3"]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert 0 < int(responses[0]["X-RateLimit-Reset"]) <= 60

    refused = key_client.get(ME)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_each_api_key_and_each_user_has_a_budget_of_its_own(key_client, tenant_a, client, three_per_minute):
    for _ in range(3):
        key_client.get(ME)
    assert key_client.get(ME).status_code == 429

    _, other_raw_key = create_api_key(client=tenant_a.client, name="second", scopes=["read"])
    assert _key_client(other_raw_key).get(ME).status_code == 200

    client.force_login(tenant_a.member)
    statuses = [client.get(ME).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_writes_count_too(key_client, three_per_minute):
    statuses = [key_client.post(TEMPLATES, {"name": f"T{n}", "body": "Hi"}).status_code for n in range(4)]
    assert statuses[:3] != [429] * 3 and statuses[3] == 429


def test_without_redis_api_reads_pass_with_a_warning_and_writes_are_refused(key_client, caplog):
    with override_settings(CACHES=UNREACHABLE_CACHE), caplog.at_level(logging.WARNING, logger="mobul.ratelimit"):
        read = key_client.get(TEMPLATES)
        write = key_client.post(TEMPLATES, {"name": "T", "body": "Hi"})
    assert read.status_code == 200
    assert "X-RateLimit-Limit" not in read
    assert "rate limiter unavailable; letting api through" in caplog.text
    assert write.status_code == 503
    assert write.json()["error"]["code"] == "temporarily_unavailable"


def test_without_redis_public_redemption_fails_closed(api_client):
    with override_settings(CACHES=UNREACHABLE_CACHE):
        response = api_client.post("/api/v1/redeem/", {"token": "x" * 22}, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "temporarily_unavailable",
        "message": "This service is briefly unavailable. Please try again in a minute.",
        "field": None,
    }


@pytest.mark.parametrize("url", ["/admin/login/", "/app/login/"])
def test_sign_in_attempts_are_limited_per_address_tried(client, tenant_a, url, three_per_minute):
    wrong = {"username": tenant_a.admin.email, "password": "not the password"}
    for _ in range(3):
        page = client.post(url, wrong).content.decode()
        assert TOO_MANY_ATTEMPTS not in page
    page = client.post(url, {**wrong, "password": "mobul-test-password"}).content.decode()
    assert TOO_MANY_ATTEMPTS in page
    # Another address from elsewhere is unaffected.
    other = client.post(url, {"username": "someone@example.com", "password": "x"}, REMOTE_ADDR="10.9.9.9")
    assert TOO_MANY_ATTEMPTS not in other.content.decode()
