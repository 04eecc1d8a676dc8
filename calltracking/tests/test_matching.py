"""Matching a caller to a recipient of the tracking number's campaign, through the voice webhook."""

import pytest
from django.utils import timezone

from analytics.models import Event
from calltracking.models import CallSession
from campaigns.models import Recipient

from .factories import VOICE, new_call_id, tracking_number_for, twilio_post, voice_params

pytestmark = pytest.mark.django_db


def call(client, caller):
    call_id = new_call_id()
    assert twilio_post(client, VOICE, voice_params(call_id, caller=caller)).status_code == 200
    return CallSession.objects.get(provider_call_id=call_id)


def test_an_exact_number_matches(client, make_campaign):
    campaign, (ann, _) = make_campaign(["+16175550134", "+16175550135"])
    tracking_number_for(campaign)
    session = call(client, "+16175550134")
    assert (session.recipient, session.match_method, session.caller_phone) == (ann, "caller_id", "+16175550134")


@pytest.mark.parametrize(("imported", "caller_id"), [
    ("(617) 555-0134", "+16175550134"),  # imported national, Twilio sends E.164
    ("+1 617 555 0134", "+16175550134"),
    ("1-617-555-0134", "+16175550134"),
    ("+16175550134", "617.555.0134"),  # a carrier that sends the national form
    ("+44 20 7946 0958", "+442079460958"),  # a recipient abroad
])
def test_national_and_international_forms_match(client, make_campaign, imported, caller_id):
    campaign, (person,) = make_campaign([imported])
    tracking_number_for(campaign)
    session = call(client, caller_id)
    assert (session.recipient, session.match_method) == (person, "caller_id")


def test_an_unknown_caller_is_unmatched(client, make_campaign):
    campaign, _ = make_campaign(["+16175550134"])
    tracking_number_for(campaign)
    session = call(client, "+16175550999")
    assert (session.recipient, session.match_method, session.caller_phone) == (None, "unmatched", "+16175550999")
    assert Event.objects.get(event_type="call_started").recipient_id is None


@pytest.mark.parametrize("caller_id", ["anonymous", "+266696687", "Restricted", ""])
def test_a_withheld_caller_id_is_kept_raw_and_unmatched(client, make_campaign, caller_id):
    campaign, _ = make_campaign(["+16175550134"])
    tracking_number_for(campaign)
    session = call(client, caller_id)
    assert (session.caller_phone, session.caller_raw, session.match_method) == ("", caller_id, "unmatched")


def test_several_recipients_on_one_number_are_left_to_the_agent(client, make_campaign):
    # A household on one landline: sending the reward to the wrong member cannot be undone, so nobody is
    # picked automatically; the call is flagged and the agent chooses.
    campaign, people = make_campaign(["(617) 555-0134", "617-555-0134", "+16175550135"])
    tracking_number_for(campaign)
    session = call(client, "+16175550134")
    assert (session.recipient, session.match_method) == (None, "ambiguous")
    assert Event.objects.get(event_type="call_started").payload["match"] == "ambiguous"


def test_only_recipients_of_the_numbers_campaign_match(client, make_campaign):
    campaign, _ = make_campaign(["+16175550135"])
    elsewhere, _ = make_campaign(["+16175550134"])
    tracking_number_for(campaign)
    assert call(client, "+16175550134").match_method == "unmatched"


def test_a_deleted_recipient_never_matches(client, make_campaign):
    campaign, (gone, kept) = make_campaign(["+16175550134", "+16175550134"])
    Recipient.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    tracking_number_for(campaign)
    session = call(client, "+16175550134")
    assert (session.recipient, session.match_method) == (kept, "caller_id")
