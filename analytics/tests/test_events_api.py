import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog
from analytics import ingest
from analytics.models import CampaignDailyStat, Event
from analytics.partitions import month_start
from analytics.rollups import apply_pending_rollups
from analytics.services import record_event
from campaigns.models import Campaign
from campaigns.services import create_recipient

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


@pytest.fixture
def recipient(campaign):
    return create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                            city="Boston", postal_code="02108")


def _iso(moment):
    return moment.isoformat()


def test_a_batch_is_stored_with_per_item_errors(key_client, campaign, recipient, tenant_b,
                                                django_capture_on_commit_callbacks):
    foreign = Campaign.objects.create(client=tenant_b.client, name="theirs")
    now = timezone.now()
    batch = [
        {"campaign": campaign.pk, "event_type": "purl_viewed", "recipient": recipient.pk, "occurred_at": _iso(now)},
        {"campaign": campaign.pk, "event_type": "custom.coupon_printed", "payload": {"store": 12}},
        {"campaign": foreign.pk, "event_type": "purl_viewed"},
        {"campaign": campaign.pk, "event_type": "teleported"},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "occurred_at": _iso(now + timedelta(hours=1))},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "occurred_at": "2001-01-01T00:00:00Z"},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "occurred_at": "2026-13-01T00:00:00Z"},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "recipient": recipient.pk + 1000},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "source": "carrier-pigeon"},
        "not an object",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = key_client.post(EVENTS, {"events": batch})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (2, "unknown_campaign"), (3, "invalid_event_type"), (4, "future_time"), (5, "outside_window"),
        (6, "invalid_time"), (7, "unknown_recipient"), (8, "invalid_event_source"), (9, "invalid"),
    ]
    stored = Event.objects.filter(campaign=campaign).order_by("id")
    assert [(e.event_type, e.source, e.payload) for e in stored] == [
        ("purl_viewed", "api", {}), ("custom.coupon_printed", "api", {"store": 12}),
    ]
    assert CampaignDailyStat.objects.filter(campaign=campaign).count() == 2


def test_retried_batches_do_not_count_twice(key_client, campaign, tenant_a, django_capture_on_commit_callbacks):
    batch = [{"campaign": campaign.pk, "event_type": "purl_viewed", "idempotency_key": f"k{n}"} for n in range(3)]
    batch.append({"campaign": campaign.pk, "event_type": "purl_viewed", "idempotency_key": "k0"})
    with django_capture_on_commit_callbacks(execute=True):
        first = key_client.post(EVENTS, {"events": batch}).json()
    assert (first["accepted"], first["duplicates"]) == (3, 1)
    with django_capture_on_commit_callbacks(execute=True):
        again = key_client.post(EVENTS, {"events": batch}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)
    assert Event.objects.count() == 3
    assert CampaignDailyStat.objects.get(campaign=campaign).events == 3
    # Each batch that stored something is audited, with the key that sent it; the all-duplicate retry is not.
    [audit] = AuditLog.objects.filter(object_type="analytics.EventBatch")
    assert (audit.action, audit.api_key, audit.changes) == ("create", tenant_a.api_key,
                                                           {"accepted": 3, "duplicates": 1, "rejected": 0})


def test_the_payload_limit_is_on_its_json_text(key_client, campaign):
    def item(text):
        return {"campaign": campaign.pk, "event_type": "purl_viewed", "payload": {"t": text}}

    # '{"t": ""}' is 9 characters, and "é" takes 6 in JSON: \u00e9.
    batch = [item("é" * 1363), item("é" * 1364), item("x" * 8183), item("x" * 8184)]
    body = key_client.post(EVENTS, {"events": batch}).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "invalid_payload"), (3, "invalid_payload")]
    assert sorted(len(e.payload["t"]) for e in Event.objects.filter(campaign=campaign)) == [1363, 8183]


def test_text_postgresql_cannot_store_is_an_item_error_not_a_500(key_client, campaign):
    def item(**fields):
        return {"campaign": campaign.pk, "event_type": "purl_viewed", **fields}

    batch = [
        item(payload={"note": "a\u0000b"}), item(payload={"nested": [{"k\u0000": 1}]}),
        item(payload={"half": "\ud800"}), item(idempotency_key="k\u0000"), item(idempotency_key="\udfff"),
        # A backslash followed by the same letters is plain text.
        item(payload={"text": "\\x00 \\ud800"}, idempotency_key="\\x00"),
    ]
    # Encoded here: the test client's encoder writes surrogates out as they are, which UTF-8 refuses.
    response = key_client.post(EVENTS, json.dumps({"events": batch}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert [(e["index"], e["code"]) for e in response.json()["errors"]] == [
        (0, "invalid_payload"), (1, "invalid_payload"), (2, "invalid_payload"), (3, "invalid_key"), (4, "invalid_key"),
    ]
    assert Event.objects.get(campaign=campaign).payload == {"text": "\\x00 \\ud800"}


def test_a_number_out_of_a_floats_range_is_a_parse_error_not_a_500(key_client, campaign):
    # Python reads 1e999 as infinity, which PostgreSQL's json type refuses: it used to fail the store statement.
    body = f'{{"events": [{{"campaign": {campaign.pk}, "event_type": "purl_viewed", "payload": {{"x": 1e999}}}}]}}'
    response = key_client.post(EVENTS, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "1e999" in response.json()["error"]["message"]
    assert not Event.objects.filter(campaign=campaign).exists()


def test_times_are_stored_to_the_microsecond_whatever_their_offset(key_client, campaign):
    now = timezone.now()
    moments = [(now - timedelta(microseconds=1)).astimezone(timezone.get_fixed_timezone(330)),
               now.replace(microsecond=999999)]
    batch = [{"campaign": campaign.pk, "event_type": "purl_viewed", "occurred_at": _iso(moment)} for moment in moments]
    assert key_client.post(EVENTS, {"events": batch}).json()["accepted"] == 2
    assert sorted(Event.objects.filter(campaign=campaign).values_list("created_at", flat=True)) == sorted(moments)


def test_a_partly_retried_batch_stores_only_its_new_events(key_client, campaign, tenant_b,
                                                           django_capture_on_commit_callbacks):
    def event(key=None):
        return {"campaign": campaign.pk, "event_type": "purl_viewed", **({"idempotency_key": key} if key else {})}

    with django_capture_on_commit_callbacks(execute=True):
        first = key_client.post(EVENTS, {"events": [event("k0"), event("k1")]}).json()
        # k1 was stored, k2 is new, the same key twice counts once, and an event without a key is always new.
        again = key_client.post(EVENTS, {"events": [event("k1"), event("k2"), event("k2"), event()]}).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (again["accepted"], again["duplicates"], again["errors"]) == (2, 2, [])
    assert Event.objects.filter(campaign=campaign).count() == 4
    assert CampaignDailyStat.objects.get(campaign=campaign).events == 4
    audits = AuditLog.objects.filter(object_type="analytics.EventBatch").order_by("pk")
    assert [audit.changes for audit in audits] == [{"accepted": 2, "duplicates": 0, "rejected": 0},
                                                   {"accepted": 2, "duplicates": 2, "rejected": 0}]

    # Keys belong to their client: another client's k0 is a new event.
    theirs = Campaign.objects.create(client=tenant_b.client, name="theirs")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    body = other.post(EVENTS, {"events": [{"campaign": theirs.pk, "event_type": "purl_viewed",
                                           "idempotency_key": "k0"}]}).json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)


def test_a_refused_event_does_not_use_up_its_key(key_client, campaign):
    event = {"campaign": campaign.pk, "event_type": "teleported", "idempotency_key": "k0"}
    refused = key_client.post(EVENTS, {"events": [event]}).json()
    assert (refused["accepted"], [error["code"] for error in refused["errors"]]) == (0, ["invalid_event_type"])
    fixed = key_client.post(EVENTS, {"events": [{**event, "event_type": "purl_viewed"}]}).json()
    assert (fixed["accepted"], fixed["duplicates"]) == (1, 0)


def test_ids_and_sources_of_the_wrong_json_type_are_item_errors(key_client, campaign, recipient):
    # Found by the API fuzz test: an object where an id belongs was a TypeError, and an id past bigint made
    # PostgreSQL refuse the lookup: both were 500s.
    batch = [
        {"campaign": {}, "event_type": "purl_viewed"},
        {"campaign": [campaign.pk], "event_type": "purl_viewed"},
        {"campaign": True, "event_type": "purl_viewed"},
        {"campaign": 2**70, "event_type": "purl_viewed"},
        {"campaign": -campaign.pk, "event_type": "purl_viewed"},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "recipient": {"id": recipient.pk}},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "recipient": -(2**90)},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "source": {"name": "api"}},
        {"campaign": campaign.pk, "event_type": "purl_viewed", "recipient": recipient.pk},
    ]
    response = key_client.post(EVENTS, {"events": batch})
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 1
    assert [(e["index"], e["code"], e["field"]) for e in response.json()["errors"]] == [
        *((index, "unknown_campaign", "campaign") for index in range(5)),
        (5, "unknown_recipient", "recipient"), (6, "unknown_recipient", "recipient"),
        (7, "invalid_event_source", "source"),
    ]


def test_an_item_is_reported_for_its_first_problem_in_the_documented_order(key_client, campaign, recipient):
    ok = {"campaign": campaign.pk, "event_type": "purl_viewed"}
    big = {"text": "x" * 9000}
    batch = [
        {**ok, "campaign": campaign.pk + 1000, "payload": "no", "occurred_at": 12},
        {**ok, "event_type": "teleported", "recipient": recipient.pk + 1000, "payload": big},
        {**ok, "recipient": recipient.pk + 1000, "payload": big, "idempotency_key": ""},
        {**ok, "payload": "no", "occurred_at": "yesterday"},
        {**ok, "payload": big, "idempotency_key": 7},
        {**ok, "idempotency_key": "x" * 101, "occurred_at": "yesterday"},
        {**ok, "occurred_at": 12},
        {**ok, "occurred_at": "2026-11-28T10:00:00"},
        {**ok, "recipient": recipient.pk, "payload": {"fits": "y" * 8000}, "idempotency_key": "k" * 100},
    ]
    body = key_client.post(EVENTS, {"events": batch}).json()
    assert [(e["index"], e["code"], e["field"]) for e in body["errors"]] == [
        (0, "unknown_campaign", "campaign"), (1, "invalid_event_type", "event_type"),
        (2, "unknown_recipient", "recipient"), (3, "invalid_payload", "payload"), (4, "invalid_payload", "payload"),
        (5, "invalid_key", "idempotency_key"), (6, "invalid_time", "occurred_at"), (7, "invalid_time", "occurred_at"),
    ]
    assert body["accepted"] == 1


# One problem in an otherwise clean batch: the batch leaves the field-by-field checks for the item-by-item ones,
# which report exactly that item. Some problems show only in the lookup's answer (campaign, recipient, partitions).
@pytest.mark.parametrize(("fault", "code"), [
    ({"campaign": "theirs"}, "unknown_campaign"), ({"campaign": True}, "unknown_campaign"),
    ({"recipient": "stranger"}, "unknown_recipient"), ({"recipient": 0}, "unknown_recipient"),
    ({"occurred_at": "2001-01-01T00:00:00Z"}, "outside_window"), ({"occurred_at": "in a year"}, "future_time"),
    ({"occurred_at": "2026-11-28T10:00:00"}, "invalid_time"), ({"occurred_at": 1764324000}, "invalid_time"),
    ({"event_type": "teleported"}, "invalid_event_type"), ({"event_type": ["purl_viewed"]}, "invalid_event_type"),
    ({"source": "pigeon"}, "invalid_event_source"), ({"source": None}, "invalid_event_source"),
    ({"payload": []}, "invalid_payload"), ({"payload": {"t": "x" * 8200}}, "invalid_payload"),
    ({"payload": {"t": "a\u0000"}}, "invalid_payload"), ({"idempotency_key": ""}, "invalid_key"),
    ({"idempotency_key": "k" * 101}, "invalid_key"), ({"idempotency_key": 7}, "invalid_key"),
    ({"idempotency_key": "k0"}, "duplicate"), ("not an object", "invalid"),
])
def test_one_problem_in_a_clean_batch_is_reported_for_its_item(key_client, campaign, recipient, tenant_b, fault,
                                                                code):
    theirs = Campaign.objects.create(client=tenant_b.client, name="theirs")
    stranger = create_recipient(campaign=theirs, first_name="Bo", last_name="Ng", address1="2 Elm St",
                                city="Boston", postal_code="02108")
    now = timezone.now()
    stand_ins = {"theirs": theirs.pk, "stranger": stranger.pk, "in a year": _iso(now + timedelta(days=365))}

    def event(number, **fields):
        return {"campaign": campaign.pk, "recipient": recipient.pk, "event_type": "purl_viewed", "source": "api",
                "occurred_at": _iso(now - timedelta(minutes=number)), "payload": {"n": number},
                "idempotency_key": f"k{number}", **fields}

    faulty = fault if isinstance(fault, str) else event(1, **{name: stand_ins.get(value, value) if isinstance(
        value, str) else value for name, value in fault.items()})
    body = key_client.post(EVENTS, json.dumps({"events": [event(0), faulty, event(2)]}),
                           content_type="application/json").json()
    if code == "duplicate":
        assert (body["accepted"], body["duplicates"], body["errors"]) == (2, 1, [])
    else:
        assert (body["accepted"], body["duplicates"]) == (2, 0)
        assert [(error["index"], error["code"]) for error in body["errors"]] == [(1, code)]
    assert sorted(Event.objects.filter(campaign=campaign).values_list("payload__n", flat=True)) == [0, 2]


def test_a_clean_batch_is_stored_as_checking_it_item_by_item_would(campaign, recipient):
    now = timezone.now()
    items = [
        {"campaign": campaign.pk, "event_type": "purl_viewed"},
        {"campaign": campaign.pk, "event_type": "custom.coupon_printed", "recipient": recipient.pk,
         "occurred_at": (now - timedelta(hours=2)).astimezone(timezone.get_fixed_timezone(-300)).isoformat(),
         "payload": {"store": 12, "tags": ["a", "b"]}, "idempotency_key": "é-1"},
        {"campaign": campaign.pk, "event_type": "qr_scanned", "source": "qr", "recipient": None,
         "occurred_at": _iso(now - timedelta(microseconds=1))},
    ]
    moment = (now, ingest._microseconds(now))
    clean = ingest._clean_batch(items, moment)
    window = (0, 2**62)
    result, rows, payloads = ingest._item_by_item(items, [ingest._inspect(item, moment) for item in items],
                                                  {campaign.pk}, set(), window)
    assert result.errors == [] and clean.fits({campaign.pk}, set(), window)
    assert (clean.rows, clean.payloads) == (rows, payloads)
    assert not clean.fits({campaign.pk}, {(recipient.pk, campaign.pk)}, window)


@pytest.mark.parametrize(("body", "message"), [
    ({"events": []}, "non-empty list"), ({"events": "nope"}, "non-empty list"), ({}, "non-empty list"),
    ({"events": [{}] * 1001}, "at most 1000"),
])
def test_bad_batches_are_refused_whole(key_client, body, message):
    response = key_client.post(EVENTS, body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_user_of_one_client_sends_events_for_it(api_client, tenant_a, campaign):
    api_client.force_authenticate(tenant_a.admin)
    response = api_client.post(EVENTS, {"events": [{"campaign": campaign.pk, "event_type": "purl_viewed"}]})
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 1


def test_read_only_keys_cannot_send_events(api_client, tenant_a, campaign):
    from accounts.tests.factories import api_key_for

    _, raw = api_key_for(tenant_a.client, scopes=["read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.post(EVENTS, {"events": [{"campaign": campaign.pk, "event_type": "purl_viewed"}]})
    assert response.status_code == 403


def test_listing_needs_a_time_range_and_pages_newest_first(key_client, campaign):
    now = timezone.now()
    for minutes in range(5):
        record_event(event_type="purl_viewed", source="purl", campaign=campaign, occurred_at=now - timedelta(minutes=minutes))
    assert key_client.get(EVENTS).status_code == 400
    assert key_client.get(EVENTS, {"from": "2026-13-01T00:00:00Z", "to": _iso(now)}).status_code == 400
    assert key_client.get(EVENTS, {"from": _iso(now), "to": _iso(now - timedelta(hours=1))}).status_code == 400
    assert key_client.get(EVENTS, {"from": _iso(now - timedelta(days=400)), "to": _iso(now)}).status_code == 400
    params = {"from": _iso(now - timedelta(hours=1)), "to": _iso(now + timedelta(seconds=1)), "page_size": 2}
    page = key_client.get(EVENTS, params).json()
    times = [row["occurred_at"] for row in page["results"]]
    assert len(times) == 2 and times == sorted(times, reverse=True)
    second = key_client.get(page["next"]).json()
    assert len(second["results"]) == 2 and second["results"][0]["occurred_at"] < times[-1]


@pytest.mark.parametrize("name", ["campaign", "recipient"])
@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "1.5", "-1"])
def test_listing_filters_take_plain_numbers_only(key_client, campaign, name, value):
    # "²" is a digit to str.isdigit() but not to int(): it was a 500.
    now = timezone.now()
    response = key_client.get(EVENTS, {"from": _iso(now - timedelta(hours=1)), "to": _iso(now), name: value})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_range", "message": f"{name} must be a number.", "field": name}


def test_another_tenant_never_sees_the_events(api_client, campaign, tenant_b):
    now = timezone.now()
    record_event(event_type="purl_viewed", source="purl", campaign=campaign, occurred_at=now)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    params = {"from": _iso(now - timedelta(hours=1)), "to": _iso(now + timedelta(hours=1))}
    assert api_client.get(EVENTS, params).json()["results"] == []
    assert api_client.get(EVENTS, {**params, "campaign": campaign.pk}).json()["results"] == []


def test_a_time_range_query_reads_only_its_partitions(campaign):
    start = datetime.combine(month_start(timezone.now().date()), datetime.min.time(), UTC)
    queryset = Event.objects.filter(created_at__gte=start, created_at__lt=start + timedelta(days=3),
                                    campaign=campaign)
    with connection.cursor() as cursor:
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scanned = set(re.findall(r"events_\d{4}_\d{2}", plan))
    assert scanned == {f"events_{start:%Y_%m}"}, plan


@pytest.mark.django_db(transaction=True)
def test_retries_stay_duplicates_once_the_statements_are_prepared(key_client, campaign):
    # Committed for real, and more often than psycopg's prepare threshold: each retry's first statement fails on
    # a taken key, and the batch is stored again by the one that skips taken keys.
    batch = [{"campaign": campaign.pk, "event_type": "purl_viewed", "idempotency_key": f"k{n}"} for n in range(3)]
    for attempt in range(8):
        body = key_client.post(EVENTS, {"events": batch}).json()
        assert (body["accepted"], body["duplicates"]) == ((3, 0) if attempt == 0 else (1, len(batch) - 1))
        batch.append({"campaign": campaign.pk, "event_type": "purl_viewed", "idempotency_key": f"new{attempt}"})
    apply_pending_rollups()  # what the commits' tasks have not counted yet
    assert Event.objects.filter(campaign=campaign).count() == 10
    assert CampaignDailyStat.objects.get(campaign=campaign).events == 10
