"""Twilio's voice webhooks, called the way Twilio calls them: form posts signed with the real RequestValidator
scheme, against the real database and Redis."""

import threading
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from analytics.models import Event
from calltracking.models import CallSession

from .factories import (
    ACCOUNT_SID,
    PUBLIC_BASE_URL,
    RECORDING,
    STATUS,
    VOICE,
    new_call_id,
    recording_params,
    sign,
    status_params,
    tracking_number_for,
    twilio_post,
    voice_params,
)

pytestmark = pytest.mark.django_db


def twiml(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ElementTree.fromstring(response.content)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def events(event_type):
    return list(Event.objects.filter(event_type=event_type))


# --- Signatures ---------------------------------------------------------------------------------

def test_a_signed_call_is_forwarded_with_the_consent_announcement_and_recorded(client, number):
    call_id = new_call_id()
    answer = twiml(twilio_post(client, VOICE, voice_params(call_id)))

    say, dial = list(answer)
    assert say.tag == "Say" and say.text == number.consent_message
    assert dial.tag == "Dial" and dial.get("record") == "record-from-answer"
    assert dial.get("recordingStatusCallback") == f"{PUBLIC_BASE_URL}{RECORDING}"
    (forward,) = list(dial)
    assert forward.tag == "Number" and forward.text == "+16175550199"
    assert forward.get("statusCallback") == f"{PUBLIC_BASE_URL}{STATUS}"
    session = CallSession.objects.get(provider_call_id=call_id)
    assert (session.tracking_number, session.campaign_id, session.provider_status) == (
        number, number.campaign_id, "ringing")


def test_without_recording_there_is_no_announcement_and_no_recording(client, campaign_and_caller):
    tracking_number_for(campaign_and_caller[0], record_calls=False)
    answer = twiml(twilio_post(client, VOICE, voice_params(new_call_id())))

    (dial,) = list(answer)
    assert dial.tag == "Dial" and dial.get("record") is None and dial.get("recordingStatusCallback") is None
    assert dial.find("Number").text == "+16175550199"


def test_a_tampered_body_is_refused_and_changes_nothing(client, number):
    params = voice_params(new_call_id())
    signature = sign(VOICE, params)
    tampered = {**params, "From": "+16175550999"}

    assert_error(twilio_post(client, VOICE, tampered, signature=signature), 403, "invalid_signature")
    assert not CallSession.objects.exists() and not Event.objects.exists()


def test_a_signature_for_another_url_is_refused(client, number):
    # Signed for the address the request arrived on, not the public one Twilio was given.
    response = twilio_post(client, VOICE, voice_params(new_call_id()), base_url="http://testserver")
    assert_error(response, 403, "invalid_signature")
    assert not CallSession.objects.exists()


def test_a_signature_with_another_token_is_refused(client, number):
    response = twilio_post(client, VOICE, voice_params(new_call_id()), token="someone-elses-token")
    assert_error(response, 403, "invalid_signature")
    assert not CallSession.objects.exists()


@pytest.mark.parametrize("path", [VOICE, STATUS, RECORDING])
def test_a_missing_signature_is_refused_on_every_webhook(client, number, path):
    assert_error(twilio_post(client, path, voice_params(new_call_id()), headers={}), 403, "invalid_signature")
    assert not CallSession.objects.exists()


def test_a_refused_request_is_logged(client, number, caplog):
    twilio_post(client, VOICE, voice_params(new_call_id()), signature="bm90LWEtc2lnbmF0dXJl")
    assert any("bad or missing signature" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("path", [VOICE, STATUS, RECORDING])
def test_without_an_auth_token_everything_is_refused(client, number, settings, path):
    settings.TWILIO_AUTH_TOKEN = ""
    # Even a request "signed" with the empty token: nothing unsigned may ever get through.
    response = twilio_post(client, path, voice_params(new_call_id()), token="")
    assert_error(response, 503, "webhook_not_configured")
    assert "TWILIO_AUTH_TOKEN" in response.json()["error"]["message"]
    assert not CallSession.objects.exists()


def test_the_public_base_url_decides_behind_a_proxy(client, number, settings):
    settings.PUBLIC_BASE_URL = "https://edge.example.org/mobul"
    params = voice_params(new_call_id())
    assert twilio_post(client, VOICE, params, base_url="https://edge.example.org/mobul").status_code == 200
    assert_error(twilio_post(client, VOICE, params), 403, "invalid_signature")


def test_twilio_is_not_asked_for_a_csrf_token(number):
    response = twilio_post(Client(enforce_csrf_checks=True), VOICE, voice_params(new_call_id()))
    assert response.status_code == 200


def test_only_post_is_allowed(client, number):
    assert_error(client.get(VOICE, headers={"X-Twilio-Signature": sign(VOICE, {})}), 405, "method_not_allowed")


def test_webhooks_are_not_in_the_api_docs(client):
    schema = client.get("/api/v1/schema/").content.decode()
    assert "/webhooks/twilio" not in schema
    assert "/api/v1/call-sessions/" in schema and "/api/v1/tracking-numbers/" in schema


# --- Incoming calls ---------------------------------------------------------------------------

def test_a_call_records_a_call_started_event(client, number, campaign_and_caller):
    campaign, caller = campaign_and_caller
    call_id = new_call_id()
    twilio_post(client, VOICE, voice_params(call_id))

    session = CallSession.objects.get(provider_call_id=call_id)
    (event,) = events("call_started")
    assert (event.campaign_id, event.recipient_id, event.source) == (campaign.pk, caller.pk, "call")
    assert event.payload == {"call_session": session.pk, "tracking_number": "+16175550100", "match": "caller_id"}


def test_a_retried_webhook_never_creates_a_second_session(client, number):
    call_id = new_call_id()
    first = twilio_post(client, VOICE, voice_params(call_id))
    again = twilio_post(client, VOICE, voice_params(call_id))

    assert first.content == again.content
    assert CallSession.objects.filter(provider_call_id=call_id).count() == 1
    assert len(events("call_started")) == 1


def test_an_unknown_number_hears_a_polite_message_and_is_logged(client, number, caplog):
    call_id = new_call_id()
    answer = twiml(twilio_post(client, VOICE, voice_params(call_id, called="+16175550111")))

    assert [element.tag for element in answer] == ["Say", "Hangup"]
    assert "not in service" in answer.find("Say").text
    assert not CallSession.objects.exists() and not Event.objects.exists()
    assert any(call_id in record.getMessage() and "+16175550111" in record.getMessage() for record in caplog.records)


def test_a_released_number_is_unknown(client, number):
    from calltracking.services import update_tracking_number

    update_tracking_number(tracking_number=number, status="released")
    answer = twiml(twilio_post(client, VOICE, voice_params(new_call_id())))
    assert answer.find("Dial") is None and answer.find("Say") is not None
    assert not CallSession.objects.exists()


def test_a_call_about_a_campaign_not_yet_mailed_is_not_a_response(client, make_campaign):
    campaign, _ = make_campaign(["617-555-0134"], status="approved")
    tracking_number_for(campaign)
    twilio_post(client, VOICE, voice_params(new_call_id()))
    assert CallSession.objects.count() == 1
    assert not Event.objects.exists()


# --- Status callbacks -------------------------------------------------------------------------

def start(client, call_id):
    assert twilio_post(client, VOICE, voice_params(call_id)).status_code == 200
    return call_id


def session_of(call_id):
    return CallSession.objects.get(provider_call_id=call_id)


def test_a_completed_call_gets_its_times_duration_and_an_event(client, number, campaign_and_caller):
    call_id = start(client, new_call_id())
    began = timezone.now().replace(microsecond=0)
    twilio_post(client, STATUS, status_params(call_id, "in-progress", at=began))
    twilio_post(client, STATUS, status_params(new_call_id(), "in-progress", at=began + timedelta(seconds=7),
                                              parent=call_id, called="+16175550199"))
    response = twilio_post(client, STATUS, status_params(call_id, "completed", duration=95,
                                                         at=began + timedelta(seconds=102)))

    assert response.status_code == 204
    session = session_of(call_id)
    assert session.provider_status == "completed"
    assert session.call_answered_at == began + timedelta(seconds=7)
    assert session.call_ended_at == began + timedelta(seconds=102)
    assert session.duration_seconds == 95
    (event,) = events("call_completed")
    assert event.recipient_id == campaign_and_caller[1].pk
    assert event.payload == {"call_session": session.pk, "status": "completed", "duration": 95}


def test_completed_before_in_progress_does_not_move_the_call_backwards(client, number):
    call_id = start(client, new_call_id())
    ended = timezone.now().replace(microsecond=0)
    twilio_post(client, STATUS, status_params(call_id, "completed", duration=30, at=ended))
    twilio_post(client, STATUS, status_params(call_id, "in-progress", at=ended - timedelta(seconds=30)))
    twilio_post(client, STATUS, status_params(call_id, "ringing", at=ended - timedelta(seconds=35)))

    session = session_of(call_id)
    assert (session.provider_status, session.duration_seconds, session.call_ended_at) == ("completed", 30, ended)


def test_the_first_final_status_is_the_outcome_and_counts_once(client, number):
    call_id = start(client, new_call_id())
    twilio_post(client, STATUS, status_params(call_id, "no-answer", duration=0))
    twilio_post(client, STATUS, status_params(call_id, "no-answer", duration=0))
    twilio_post(client, STATUS, status_params(call_id, "completed", duration=12))

    session = session_of(call_id)
    assert (session.provider_status, session.duration_seconds) == ("no-answer", 0)
    assert len(events("call_completed")) == 1


def test_the_forwarded_leg_only_tells_when_the_client_answered(client, number):
    call_id = start(client, new_call_id())
    twilio_post(client, STATUS, status_params(new_call_id(), "completed", duration=5, parent=call_id))

    session = session_of(call_id)
    assert (session.provider_status, session.call_ended_at, session.call_answered_at) == ("ringing", None, None)
    assert not events("call_completed")


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed",
                                    "no-answer", "canceled"])
def test_every_twilio_status_is_understood(client, number, status):
    call_id = start(client, new_call_id())
    assert twilio_post(client, STATUS, status_params(call_id, status)).status_code == 204
    expected = "ringing" if status in ("queued", "initiated") else status
    assert session_of(call_id).provider_status == expected


def test_an_unknown_status_value_changes_nothing(client, number):
    call_id = start(client, new_call_id())
    assert twilio_post(client, STATUS, status_params(call_id, "teleported")).status_code == 204
    assert session_of(call_id).provider_status == "ringing"


def test_a_status_for_an_unknown_call_is_ignored(client, number):
    assert twilio_post(client, STATUS, status_params(new_call_id(), "completed")).status_code == 204
    assert not CallSession.objects.exists()


def test_a_webhook_without_a_call_id_is_a_bad_request(client, number):
    assert_error(twilio_post(client, STATUS, {"AccountSid": ACCOUNT_SID, "CallStatus": "completed"}), 400,
                 "invalid_webhook")


# --- Rate limits ------------------------------------------------------------------------------

@pytest.fixture
def two_per_minute(settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "webhook": "2/m"}


def test_calls_over_the_limit_hear_busy_and_are_not_recorded(client, number, two_per_minute, caplog):
    for _ in range(2):
        assert twiml(twilio_post(client, VOICE, voice_params(new_call_id()))).find("Dial") is not None
    turned_away = new_call_id()
    answer = twiml(twilio_post(client, VOICE, voice_params(turned_away)))

    assert answer.find("Reject").get("reason") == "busy"
    assert not CallSession.objects.filter(provider_call_id=turned_away).exists()
    assert any("rate limit" in record.getMessage() for record in caplog.records)


def test_the_limit_is_per_tracking_number(client, number, make_campaign, two_per_minute):
    other_campaign, _ = make_campaign([])
    tracking_number_for(other_campaign, phone_number="+16175550200")
    for _ in range(2):
        twilio_post(client, VOICE, voice_params(new_call_id()))
    answer = twiml(twilio_post(client, VOICE, voice_params(new_call_id(), called="+16175550200")))
    assert answer.find("Dial") is not None


def test_every_call_accepted_at_the_limit_gets_its_outcome_from_its_callbacks(client, number, settings):
    # Each call sends four callbacks: at a third of the limit, calls used to stay "ringing" (their callbacks 429).
    calls = 5
    settings.RATELIMITS = {**settings.RATELIMITS, "webhook": f"{calls}/m"}
    began = timezone.now().replace(microsecond=0)
    accepted = [new_call_id() for _ in range(calls)]
    for index, call_id in enumerate(accepted):
        start(client, call_id)
        leg = new_call_id()
        callbacks = [
            (STATUS, status_params(leg, "in-progress", at=began + timedelta(seconds=5), parent=call_id)),
            (STATUS, status_params(leg, "completed", at=began + timedelta(seconds=60), parent=call_id, duration=55)),
            (STATUS, status_params(call_id, "completed", at=began + timedelta(seconds=61), duration=61 + index)),
            (RECORDING, recording_params(call_id, url=f"https://api.twilio.com/recordings/{call_id}",
                                         recording_id=f"RE{index:032d}")),
        ]
        for path, params in callbacks:
            assert twilio_post(client, path, params).status_code == 204
    # A retry of an accepted call's own webhook is put through too; only a new call is over the limit.
    assert twiml(twilio_post(client, VOICE, voice_params(accepted[0]))).find("Dial") is not None
    assert twiml(twilio_post(client, VOICE, voice_params(new_call_id()))).find("Reject").get("reason") == "busy"

    sessions = CallSession.objects.filter(provider_call_id__in=accepted).order_by("duration_seconds")
    assert [(s.provider_status, s.duration_seconds, s.recording_status) for s in sessions] == [
        ("completed", 61 + index, "pending") for index in range(calls)]
    assert all(session.call_answered_at == began + timedelta(seconds=5) for session in sessions)
    assert len(events("call_completed")) == calls


def test_unsigned_requests_do_not_use_up_the_limit(client, number, two_per_minute):
    for _ in range(5):
        twilio_post(client, VOICE, voice_params(new_call_id()), headers={})
    assert twiml(twilio_post(client, VOICE, voice_params(new_call_id()))).find("Dial") is not None


# --- Races ------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_same_call_delivered_twice_at_once_makes_one_session(number):
    call_id = new_call_id()
    start_together = threading.Barrier(4)

    def deliver():
        try:
            start_together.wait(timeout=30)
            return twilio_post(Client(), VOICE, voice_params(call_id)).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: deliver(), range(4)))

    assert statuses == [200] * 4
    assert CallSession.objects.filter(provider_call_id=call_id).count() == 1
    assert Event.objects.filter(event_type="call_started").count() == 1
