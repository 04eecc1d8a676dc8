"""The print vendor's mail-tracking webhook, called the way the vendor calls it: requests signed with the real
HMAC scheme, against the real database and Redis."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import mail_scans
from analytics.models import Event, MailScan
from campaigns.choices import RecipientStatus
from campaigns.models import Recipient
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

SECRET = "test-mail-webhook-secret"
# Whole seconds, so it compares equal after a round trip through JSON.
SCANNED_AT = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MAIL_WEBHOOK_SECRET = SECRET


@pytest.fixture
def url():
    return reverse("mail_webhooks:scans")


@pytest.fixture
def campaign(tenant_a):
    return CampaignFactory(client=tenant_a.client)


@pytest.fixture
def recipients(campaign):
    return [
        create_recipient(campaign=campaign, first_name=f"Ann{n}", last_name="Lee", address1=f"{n} Main St",
                         city="Boston", state="MA", postal_code="02108")
        for n in range(3)
    ]


def sign(body, *, secret=SECRET, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Mobul-Timestamp": timestamp, "X-Mobul-Signature": f"sha256={digest}"}


def post(client, url, payload=None, *, body=None, headers=None, **signing):
    body = json.dumps(payload).encode() if body is None else body
    return client.post(url, body, content_type="application/json",
                       headers=sign(body, **signing) if headers is None else headers)


def scan(recipient, scan_id, status="delivered", **fields):
    return {"scan_id": scan_id, "redemption_token": recipient.redemption_token, "status": status,
            "scanned_at": SCANNED_AT.isoformat(), **fields}


def status_of(recipient):
    return Recipient.objects.get(pk=recipient.pk).status


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_signed_scans_record_events_and_move_recipients(client, url, campaign, recipients):
    first, second, untouched = recipients
    response = post(client, url, {"scans": [
        scan(first, "v-1"),
        scan(second, "v-2", "returned", reason="Addressee unknown",
             scanned_at=SCANNED_AT.astimezone(timezone.get_fixed_timezone(-300)).isoformat()),
    ]})

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0, "errors": []}
    events = {event.recipient_id: event for event in Event.objects.all()}
    assert (events[first.pk].event_type, events[first.pk].source, events[first.pk].campaign_id) == (
        "mail_delivered", "mail", campaign.pk)
    assert events[first.pk].payload == {"scan_id": "v-1"}
    assert events[first.pk].created_at == SCANNED_AT
    assert events[second.pk].event_type == "mail_returned"
    assert events[second.pk].payload == {"scan_id": "v-2", "reason": "Addressee unknown"}
    assert events[second.pk].created_at == SCANNED_AT
    assert (status_of(first), status_of(second), status_of(untouched)) == ("delivered", "returned", "pending")
    stored = MailScan.objects.get(scan_id="v-2")
    assert (stored.recipient_id, stored.status, stored.scanned_at) == (second.pk, "returned", SCANNED_AT)
    assert stored.received_at is not None


def test_csrf_is_not_asked_of_the_vendor(url, recipients):
    response = post(Client(enforce_csrf_checks=True), url, {"scans": [scan(recipients[0], "v-1")]})
    assert response.status_code == 200


def test_a_tampered_body_is_refused(client, url, recipients):
    signed = json.dumps({"scans": [scan(recipients[0], "v-1")]}).encode()
    tampered = json.dumps({"scans": [scan(recipients[1], "v-1")]}).encode()

    response = post(client, url, body=tampered, headers=sign(signed))

    assert_error(response, 401, "invalid_signature")
    assert not Event.objects.exists() and not MailScan.objects.exists()


def test_a_wrong_secret_is_refused(client, url, recipients):
    response = post(client, url, {"scans": [scan(recipients[0], "v-1")]}, secret="not-the-secret")
    assert_error(response, 401, "invalid_signature")
    assert not Event.objects.exists()


@pytest.mark.parametrize("headers", [
    {},
    {"X-Mobul-Timestamp": "{timestamp}"},
    {"X-Mobul-Signature": "{signature}"},
    {"X-Mobul-Timestamp": "yesterday", "X-Mobul-Signature": "{signature}"},
    {"X-Mobul-Timestamp": "{timestamp}", "X-Mobul-Signature": "{hex}"},
    {"X-Mobul-Timestamp": "{timestamp}", "X-Mobul-Signature": "sha1={hex}"},
    {"X-Mobul-Timestamp": "{timestamp}", "X-Mobul-Signature": "sha256=xyz"},
], ids=["none", "no-signature", "no-timestamp", "bad-timestamp", "no-scheme", "other-scheme", "not-hex"])
def test_missing_or_malformed_headers_are_refused(client, url, recipients, headers):
    body = json.dumps({"scans": [scan(recipients[0], "v-1")]}).encode()
    good = sign(body)
    values = {"timestamp": good["X-Mobul-Timestamp"], "signature": good["X-Mobul-Signature"],
              "hex": good["X-Mobul-Signature"].removeprefix("sha256=")}
    headers = {name: value.format(**values) for name, value in headers.items()}

    assert_error(post(client, url, body=body, headers=headers), 401, "invalid_signature")
    assert not Event.objects.exists()


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamps_outside_five_minutes_are_refused(client, url, recipients, offset):
    response = post(client, url, {"scans": [scan(recipients[0], "v-1")]}, timestamp=int(time.time()) + offset)
    assert_error(response, 401, "invalid_signature")
    assert "300 seconds" in response.json()["error"]["message"]
    assert not Event.objects.exists()


def test_the_tolerance_is_configurable(client, url, recipients, settings):
    settings.MAIL_WEBHOOK_TOLERANCE_SECONDS = 30
    payload = {"scans": [scan(recipients[0], "v-1")]}
    assert_error(post(client, url, payload, timestamp=int(time.time()) - 60), 401, "invalid_signature")
    assert post(client, url, payload, timestamp=int(time.time()) - 20).status_code == 200


def test_the_identical_request_twice_is_a_replay(client, url, recipients):
    body = json.dumps({"scans": [scan(recipients[0], "v-1")]}).encode()
    headers = sign(body)

    assert post(client, url, body=body, headers=headers).status_code == 200
    assert_error(post(client, url, body=body, headers=headers), 409, "replayed")
    assert Event.objects.count() == 1


def test_a_retry_signed_again_counts_known_scans_as_duplicates(client, url, recipients):
    first = post(client, url, {"scans": [scan(recipients[0], "v-1")]}, timestamp=int(time.time()) - 10)
    retry = post(client, url, {"scans": [scan(recipients[0], "v-1"), scan(recipients[1], "v-2")]})

    assert first.json() == {"accepted": 1, "duplicates": 0, "errors": []}
    assert retry.status_code == 200
    assert retry.json() == {"accepted": 1, "duplicates": 1, "errors": []}
    assert sorted(Event.objects.values_list("payload__scan_id", flat=True)) == ["v-1", "v-2"]
    assert MailScan.objects.count() == 2


def test_a_scan_id_twice_in_one_request_counts_once(client, url, recipients):
    response = post(client, url, {"scans": [scan(recipients[0], "v-1"), scan(recipients[0], "v-1")]})
    assert response.json() == {"accepted": 1, "duplicates": 1, "errors": []}
    assert Event.objects.count() == 1


def test_unknown_tokens_are_reported_per_scan(client, url, recipients):
    stranger = {**scan(recipients[0], "v-2"), "redemption_token": "no-such-token-anywhere"}
    response = post(client, url, {"scans": [scan(recipients[0], "v-1"), stranger]})

    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "errors": [
        {"index": 1, "code": "unknown_token", "message": "No recipient has this redemption token."}]}
    assert not MailScan.objects.filter(scan_id="v-2").exists()


def test_a_soft_deleted_recipient_is_unknown(client, url, recipients):
    Recipient.objects.filter(pk=recipients[0].pk).update(deleted_at=timezone.now())
    response = post(client, url, {"scans": [scan(recipients[0], "v-1")]})
    assert response.json()["errors"][0]["code"] == "unknown_token"


@pytest.mark.parametrize(("change", "code"), [
    ({"scan_id": None}, "missing_field"),
    ({"scan_id": ""}, "missing_field"),
    ({"scan_id": 17}, "invalid_field"),
    ({"scan_id": "x" * 101}, "invalid_field"),
    ({"redemption_token": None}, "missing_field"),
    ({"status": None}, "missing_field"),
    ({"status": "lost"}, "unknown_status"),
    ({"scanned_at": None}, "missing_field"),
    ({"scanned_at": "last tuesday"}, "invalid_timestamp"),
    ({"scanned_at": "2026-01-15T10:00:00"}, "invalid_timestamp"),
    ({"scanned_at": (SCANNED_AT + timedelta(hours=1)).isoformat()}, "future_timestamp"),
    ({"scanned_at": "2020-01-15T10:00:00Z"}, "missing_partition"),
    ({"reason": ["bent"]}, "invalid_field"),
])
def test_bad_scans_are_reported_by_index_and_the_rest_recorded(client, url, recipients, change, code):
    bad = {name: value for name, value in {**scan(recipients[1], "v-2"), **change}.items() if value is not None}
    response = post(client, url, {"scans": [scan(recipients[0], "v-1"), bad, "not an object"]})

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(error["index"], error["code"]) for error in body["errors"]] == [(1, code), (2, "invalid_scan")]
    assert all(error["message"] for error in body["errors"])
    assert status_of(recipients[1]) == "pending"
    assert list(Event.objects.values_list("recipient_id", flat=True)) == [recipients[0].pk]


def test_a_little_clock_skew_is_allowed(client, url, recipients):
    ahead = timezone.now() + timedelta(minutes=4)
    response = post(client, url, {"scans": [scan(recipients[0], "v-1", scanned_at=ahead.isoformat())]})
    assert response.json()["accepted"] == 1


def test_a_long_reason_is_cut_short(client, url, recipients):
    post(client, url, {"scans": [scan(recipients[0], "v-1", "returned", reason="x" * 2000)]})
    assert len(Event.objects.get().payload["reason"]) == mail_scans.MAX_REASON_LENGTH


def test_more_than_a_thousand_scans_is_a_bad_request(client, url, recipients):
    response = post(client, url, {"scans": [scan(recipients[0], f"v-{n}") for n in range(1001)]})

    assert_error(response, 400, "too_many_scans")
    assert "at most 1,000" in response.json()["error"]["message"]
    assert not MailScan.objects.exists()


def test_a_thousand_scans_are_looked_up_in_one_query(client, url, recipients):
    scans = [{**scan(recipients[0], f"v-{n}"), "redemption_token": f"unknown-token-{n:04d}"} for n in range(1000)]
    with CaptureQueriesContext(connection) as queries:
        response = post(client, url, {"scans": scans})

    assert response.json()["accepted"] == 0 and len(response.json()["errors"]) == 1000
    assert sum('FROM "recipients"' in query["sql"] for query in queries) == 1


def test_a_batch_is_a_fixed_number_of_queries_plus_one_event_each(client, url, recipients):
    scans = [scan(recipient, f"v-{recipient.pk}") for recipient in recipients]
    with CaptureQueriesContext(connection) as queries:
        assert post(client, url, {"scans": scans}).json()["accepted"] == 3

    statements = [query["sql"].strip() for query in queries]
    assert sum(sql.startswith('SELECT "recipients"') for sql in statements) == 1
    assert sum(sql.startswith("INSERT INTO mail_scans") for sql in statements) == 1
    assert sum(sql.startswith('UPDATE "recipients"') for sql in statements) == 1
    assert Event.objects.count() == 3


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00", b'["a list"]', b'{"scans": {"a": 1}}',
                                  b'{"scan": []}'])
def test_a_body_that_is_not_a_scan_list_is_a_bad_request(client, url, body):
    response = post(client, url, body=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_json", "invalid_body"}
    assert response.json()["error"]["message"]


def test_malformed_json_says_so(client, url):
    response = post(client, url, body=b'{"scans": [')
    assert response.json() == {"error": {"code": "malformed_json", "message": "The body is not valid JSON.",
                                         "field": None}}


def test_a_body_too_large_to_read_is_a_bad_request(client, url, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    assert_error(post(client, url, body=b'{"scans": []}' + b" " * 200), 400, "too_many_scans")


@pytest.mark.parametrize(("before", "after_delivered", "after_returned"), [
    (RecipientStatus.PENDING, "delivered", "returned"),
    (RecipientStatus.MAILED, "delivered", "returned"),
    (RecipientStatus.DELIVERED, "delivered", "returned"),
    (RecipientStatus.RETURNED, "returned", "returned"),
    (RecipientStatus.RESPONDED, "responded", "responded"),
    (RecipientStatus.REDEEMED, "redeemed", "redeemed"),
])
def test_scans_never_move_a_recipient_backwards(client, url, recipients, before, after_delivered, after_returned):
    delivered, returned = recipients[:2]
    Recipient.objects.filter(pk__in=[delivered.pk, returned.pk]).update(status=before)

    response = post(client, url, {"scans": [scan(delivered, "v-1"), scan(returned, "v-2", "returned")]})

    assert response.json()["accepted"] == 2
    assert (status_of(delivered), status_of(returned)) == (after_delivered, after_returned)
    # The scan happened whatever the status, so it is still an event.
    assert Event.objects.count() == 2


def test_returned_wins_over_delivered_in_the_same_batch(client, url, recipients):
    response = post(client, url, {"scans": [scan(recipients[0], "v-2", "returned"), scan(recipients[0], "v-1")]})
    assert response.json()["accepted"] == 2
    assert status_of(recipients[0]) == "returned"


@pytest.mark.parametrize("configured", ["", None])
def test_without_a_secret_nothing_is_accepted(client, url, recipients, settings, configured):
    if configured is None:
        del settings.MAIL_WEBHOOK_SECRET
    else:
        settings.MAIL_WEBHOOK_SECRET = configured

    response = post(client, url, {"scans": [scan(recipients[0], "v-1")]}, secret="")

    assert_error(response, 503, "webhook_not_configured")
    assert "MAIL_WEBHOOK_SECRET" in response.json()["error"]["message"]
    assert not Event.objects.exists()


def test_a_failed_batch_can_be_sent_again_unchanged(client, url, recipients, monkeypatch):
    body = json.dumps({"scans": [scan(recipients[0], "v-1"), scan(recipients[1], "v-2")]}).encode()
    headers = sign(body)
    calls = []

    def fail_on_the_second_event(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_record_event(**kwargs)

    real_record_event = mail_scans.analytics.record_event
    monkeypatch.setattr(mail_scans.analytics, "record_event", fail_on_the_second_event)
    with pytest.raises(RuntimeError):
        post(client, url, body=body, headers=headers)
    assert not Event.objects.exists() and not MailScan.objects.exists()

    response = post(client, url, body=body, headers=headers)
    assert response.json() == {"accepted": 2, "duplicates": 0, "errors": []}


def test_only_post_is_allowed(client, url):
    assert_error(client.get(url), 405, "method_not_allowed")


def test_staff_see_scans_read_only_in_the_admin(client, url, platform_admin, recipients):
    post(client, url, {"scans": [scan(recipients[0], "v-1")]})
    platform_admin.is_staff = platform_admin.is_superuser = True
    platform_admin.save()
    client.force_login(platform_admin)

    changelist = reverse("admin:analytics_mailscan_changelist")
    assert client.get(changelist, {"status__exact": "delivered"}).context["cl"].result_count == 1
    assert client.get(changelist, {"q": recipients[0].redemption_token}).context["cl"].result_count == 1
    assert client.get(changelist, {"q": "v-1"}).context["cl"].result_count == 1
    assert client.get(reverse("admin:analytics_mailscan_add")).status_code == 403
    page = client.get(reverse("admin:analytics_mailscan_change", args=[MailScan.objects.get().pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_requests_are_rate_limited_per_client_ip_signed_or_not(client, url, recipients, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "webhook": "3/m"}
    assert post(client, url, {"scans": [scan(recipients[0], "s-1")]}).status_code == 200
    assert post(client, url, {"scans": [scan(recipients[0], "s-2")]}, headers={}).status_code == 401
    assert post(client, url, {"scans": [scan(recipients[0], "s-3")]}).status_code == 200

    refused = post(client, url, {"scans": [scan(recipients[1], "s-4")]})
    assert_error(refused, 429, "rate_limited")
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= 60 and (refused["X-RateLimit-Remaining"], refused["X-RateLimit-Reset"]) == ("0", str(wait))
    assert not MailScan.objects.filter(scan_id="s-4").exists()
    # The vendor's other address has a budget of its own.
    other = Client(REMOTE_ADDR="10.1.2.3")
    assert post(other, url, {"scans": [scan(recipients[1], "s-4")]}).status_code == 200
    assert status_of(recipients[1]) == RecipientStatus.DELIVERED
