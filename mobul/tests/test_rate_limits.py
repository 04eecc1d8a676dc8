"""Rate limits across the API, sign-in and public redemption, and what happens when Redis is unreachable."""

import logging
import re

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import create_api_key
from giftcards.models import GiftCard
from giftcards.services import void_card
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock
from mobul.ratelimit import wait_text
from ops.tests.test_health import UNREACHABLE_CACHE

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
TEMPLATES = "/api/v1/templates/"
REDEEM = "/api/v1/redeem/"


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
    _assert_refused_with_the_wait(refused, limit="3")


def _assert_refused_with_the_wait(response, *, limit, code="rate_limited"):
    """A 429 that says where the caller stands and, in its message, how long it really has to wait."""
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == code
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 301
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"], response["X-RateLimit-Reset"]) == (
        limit, "0", str(wait))
    if code == "rate_limited":
        seconds = f"{wait} second{'s' if wait > 1 else ''}"
        assert error["message"] == f"Too many requests. Please wait {seconds} and try again."


def test_a_refused_redemption_carries_the_headers_and_its_real_wait(api_client, tenant_a, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "2/m"}
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    _, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    statuses = [api_client.post(REDEEM, {"token": person.redemption_token}).status_code for _ in range(2)]
    assert statuses == [201, 200]
    _assert_refused_with_the_wait(api_client.post(REDEEM, {"token": person.redemption_token}), limit="2")


def test_the_redemption_cooldown_says_when_this_recipient_may_claim_and_leaves_the_rate_limit_as_it_is(
        api_client, tenant_a, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "10/m"}
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    _, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    assert api_client.post(REDEEM, {"token": person.redemption_token}).status_code == 201
    void_card(card=GiftCard.objects.get(recipient=person), reason="lost in the mail")
    cooldown = api_client.post(REDEEM, {"token": person.redemption_token})
    assert cooldown.status_code == 429
    wait = int(cooldown["Retry-After"])
    assert 240 < wait <= 301
    assert cooldown.json()["error"] == {
        "code": "cooldown", "message": f"Please wait {-(-wait // 60)} minutes before claiming another gift card.",
        "field": None}
    # The rate limit let this request through: another recipient's claim from the same caller is not refused.
    assert (cooldown["X-RateLimit-Limit"], cooldown["X-RateLimit-Remaining"]) == ("10", "8")
    assert 0 <= int(cooldown["X-RateLimit-Reset"]) <= 60


@pytest.mark.parametrize(("seconds", "text"), [(1, "1 second"), (24, "24 seconds"), (119, "119 seconds"),
                                               (120, "2 minutes"), (121, "3 minutes"), (7200, "2 hours"),
                                               (7201, "3 hours")])
def test_the_wait_is_told_in_a_unit_people_read(seconds, text):
    assert wait_text(seconds) == text


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


# The wait is the rest of the window, which a three-a-minute limit keeps under two minutes: told in seconds.
TOO_MANY_ATTEMPTS = re.compile(r"Too many sign-in attempts\. Please wait (\d+) seconds? and try again\.")


@pytest.mark.parametrize("url", ["/admin/login/", "/app/login/"])
def test_sign_in_attempts_are_limited_per_address_tried(client, tenant_a, url, three_per_minute):
    wrong = {"username": tenant_a.admin.email, "password": "not the password"}
    for _ in range(3):
        page = client.post(url, wrong).content.decode()
        assert not TOO_MANY_ATTEMPTS.search(page)
    page = client.post(url, {**wrong, "password": "mobul-test-password"}).content.decode()
    refusal = TOO_MANY_ATTEMPTS.search(page)
    assert refusal and 1 <= int(refusal.group(1)) <= 60
    # Another address from elsewhere is unaffected.
    other = client.post(url, {"username": "someone@example.com", "password": "x"}, REMOTE_ADDR="10.9.9.9")
    assert not TOO_MANY_ATTEMPTS.search(other.content.decode())
