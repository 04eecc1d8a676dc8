"""/api/v1/tracking-numbers/ and /api/v1/call-sessions/, with two tenants present."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.choices import ApiKeyScope
from accounts.models import AuditLog
from accounts.tests.factories import api_key_for
from calltracking.models import CallSession, TrackingNumber

from .factories import STATUS, VOICE, new_call_id, status_params, tracking_number_for, twilio_post, voice_params

pytestmark = pytest.mark.django_db

NUMBERS = "/api/v1/tracking-numbers/"
CALLS = "/api/v1/call-sessions/"


def error_code(response):
    return response.json()["error"]["code"]


def as_key(api_client, raw_key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api_client


# --- Tracking numbers -------------------------------------------------------------------------

def test_create_normalises_numbers_and_is_audited(key_client, tenant_a, campaign_and_caller):
    campaign, _ = campaign_and_caller
    response = key_client.post(NUMBERS, {"campaign": campaign.pk, "phone_number": "+1 (617) 555-0100",
                                         "forward_to": "+1 617 555 0199", "record_calls": True})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["client"], body["phone_number"], body["forward_to"], body["status"]) == (
        tenant_a.client.pk, "+16175550100", "+16175550199", "active")
    assert body["consent_message"]
    assert AuditLog.objects.get(action="create", object_type="calltracking.TrackingNumber").api_key == tenant_a.api_key


@pytest.mark.parametrize(("fields", "field"), [
    ({"phone_number": "not a number"}, "phone_number"),
    ({"forward_to": "(617) 555-0100"}, "forward_to"),  # the tracking number itself: a loop
    ({"record_calls": True, "consent_message": ""}, "consent_message"),
])
def test_invalid_numbers_are_refused(key_client, campaign_and_caller, fields, field):
    payload = {"campaign": campaign_and_caller[0].pk, "phone_number": "617-555-0100", "forward_to": "617-555-0199",
               **fields}
    response = key_client.post(NUMBERS, payload)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not TrackingNumber.objects.exists()


def test_a_number_is_active_on_one_campaign_at_a_time(key_client, number, make_campaign):
    other, _ = make_campaign([])
    payload = {"campaign": other.pk, "phone_number": "+16175550100", "forward_to": "+16175550199"}
    response = key_client.post(NUMBERS, payload)
    assert response.status_code == 400 and response.json()["error"]["field"] == "phone_number"

    assert key_client.patch(f"{NUMBERS}{number.pk}/", {"status": "released"}).json()["status"] == "released"
    assert key_client.post(NUMBERS, payload).status_code == 201


def test_another_clients_campaign_is_refused(key_client, make_campaign, tenant_b):
    theirs, _ = make_campaign([], client=tenant_b.client)
    response = key_client.post(NUMBERS, {"campaign": theirs.pk, "phone_number": "+16175550100",
                                         "forward_to": "+16175550199"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "campaign"


def test_update_list_and_filters(key_client, number):
    response = key_client.patch(f"{NUMBERS}{number.pk}/", {"forward_to": "617.555.0142", "record_calls": False})
    assert response.status_code == 200
    assert (response.json()["forward_to"], response.json()["record_calls"]) == ("+16175550142", False)
    assert AuditLog.objects.get(action="update").changes["forward_to"] == ["+16175550199", "+16175550142"]
    assert [row["id"] for row in key_client.get(NUMBERS, {"status": "active"}).json()["results"]] == [number.pk]
    assert key_client.get(NUMBERS, {"status": "released"}).json()["results"] == []


def test_a_number_without_calls_can_be_deleted_one_with_calls_cannot(key_client, number, make_campaign):
    unused = tracking_number_for(make_campaign([])[0], phone_number="+16175550200")
    assert key_client.delete(f"{NUMBERS}{unused.pk}/").status_code == 204

    twilio_post(Client(), VOICE, voice_params(new_call_id()))
    response = key_client.delete(f"{NUMBERS}{number.pk}/")
    assert response.status_code == 409 and error_code(response) == "tracking_number_in_use"


def test_another_tenants_numbers_are_invisible(api_client, number, tenant_b):
    as_key(api_client, tenant_b.raw_key)
    assert api_client.get(NUMBERS).json()["results"] == []
    assert api_client.get(f"{NUMBERS}{number.pk}/").status_code == 404
    assert api_client.patch(f"{NUMBERS}{number.pk}/", {"status": "released"}).status_code == 404


def test_a_read_only_key_cannot_change_numbers(api_client, tenant_a, number):
    _, raw_key = api_key_for(tenant_a.client, scopes=[ApiKeyScope.READ], name="reader")
    as_key(api_client, raw_key)
    assert api_client.get(f"{NUMBERS}{number.pk}/").status_code == 200
    assert api_client.patch(f"{NUMBERS}{number.pk}/", {"status": "released"}).status_code == 403


# --- Call sessions ----------------------------------------------------------------------------

@pytest.fixture
def calls(number, make_campaign):
    """Four calls: matched and completed, unmatched, ambiguous-free unmatched on another campaign, and an old one."""
    other_campaign, _ = make_campaign(["+16175550177"])
    tracking_number_for(other_campaign, phone_number="+16175550200")
    made = {}
    for name, caller, called in [("matched", "+16175550134", "+16175550100"),
                                 ("stranger", "+16175550999", "+16175550100"),
                                 ("other", "+16175550177", "+16175550200"),
                                 ("old", "+16175550134", "+16175550100")]:
        call_id = new_call_id()
        twilio_post(Client(), VOICE, voice_params(call_id, caller=caller, called=called))
        made[name] = CallSession.objects.get(provider_call_id=call_id)
    twilio_post(Client(), STATUS, status_params(made["matched"].provider_call_id, "completed", duration=60))
    CallSession.objects.filter(pk=made["old"].pk).update(call_started_at=timezone.now() - timedelta(days=40))
    return made


def ids(response):
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_calls_are_listed_newest_first_with_cursor_pages(key_client, calls):
    first = key_client.get(CALLS, {"page_size": 2}).json()
    assert "count" not in first and first["next"]
    second = key_client.get(first["next"]).json()
    rows = first["results"] + second["results"]
    assert [row["id"] for row in rows] == [calls[name].pk for name in ("other", "stranger", "matched", "old")]
    assert rows[2]["provider_status"] == "completed" and rows[2]["duration_seconds"] == 60
    assert rows[2]["recipient"] is not None and rows[2]["has_recording"] is False


def test_filters(key_client, calls, number):
    by_name = {name: session.pk for name, session in calls.items()}
    assert ids(key_client.get(CALLS, {"campaign": number.campaign_id})) == sorted(
        [by_name["matched"], by_name["stranger"], by_name["old"]])
    assert ids(key_client.get(CALLS, {"caller": "(617) 555-0134"})) == sorted([by_name["matched"], by_name["old"]])
    assert ids(key_client.get(CALLS, {"caller": "nonsense"})) == []
    assert ids(key_client.get(CALLS, {"matched": "false"})) == [by_name["stranger"]]
    assert ids(key_client.get(CALLS, {"matched": "true"})) == sorted(
        [by_name["matched"], by_name["other"], by_name["old"]])
    assert ids(key_client.get(CALLS, {"status": ["completed", "busy"]})) == [by_name["matched"]]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert by_name["old"] not in ids(key_client.get(CALLS, {"call_started_at_after": since}))
    assert ids(key_client.get(CALLS, {"call_started_at_before": since})) == [by_name["old"]]


def test_another_tenants_calls_are_invisible(api_client, calls, tenant_b):
    as_key(api_client, tenant_b.raw_key)
    assert ids(api_client.get(CALLS)) == []
    assert api_client.get(f"{CALLS}{calls['matched'].pk}/").status_code == 404


def test_calls_are_read_only(key_client, calls):
    assert key_client.patch(f"{CALLS}{calls['matched'].pk}/", {"notes": "x"}).status_code == 405
    assert key_client.delete(f"{CALLS}{calls['matched'].pk}/").status_code == 405
