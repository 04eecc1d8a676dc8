"""The agent screen: who may see which calls, manual matching, dispositions, and sending the reward through the
one redemption service, exactly once."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from accounts.models import AuditLog
from calltracking.models import CallSession
from calltracking.services import award_reward
from campaigns.tokens import format_short_code
from giftcards.choices import GiftCardStatus
from giftcards.models import GiftCard, GiftCardLog

from .factories import STATUS, VOICE, new_call_id, status_params, tracking_number_for, twilio_post, voice_params

pytestmark = pytest.mark.django_db

AGENT_SCREEN = "/app/calls/agent/"


def page(session):
    return f"{AGENT_SCREEN}{session.pk}/"


def incoming(caller="+16175550134", called="+16175550100"):
    call_id = new_call_id()
    assert twilio_post(Client(), VOICE, voice_params(call_id, caller=caller, called=called)).status_code == 200
    return CallSession.objects.get(provider_call_id=call_id)


@pytest.fixture
def agent(client, tenant_a):
    client.force_login(tenant_a.agent)
    return client


@pytest.fixture
def household(make_campaign):
    """Two people on one line and a third elsewhere, on an active campaign with a tracking number."""
    campaign, people = make_campaign(["(617) 555-0134", "617-555-0134", "+16175550135"])
    tracking_number_for(campaign)
    return campaign, people


def messages_of(response):
    return [str(message) for message in response.context["messages"]] if response.context else []


def test_signing_in_is_required(client):
    response = client.get(AGENT_SCREEN)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_member_without_the_call_capability_is_refused(client, tenant_a, number):
    session = incoming()
    client.force_login(tenant_a.member)
    assert client.get(AGENT_SCREEN).status_code == 403
    assert client.get(page(session)).status_code == 403


def test_agents_see_live_and_recent_calls_of_their_clients_only(agent, number, make_campaign, tenant_b):
    live = incoming()
    done = incoming(caller="+16175550999")
    twilio_post(Client(), STATUS, status_params(done.provider_call_id, "completed", duration=20))
    other_campaign, _ = make_campaign(["+16175550134"], client=tenant_b.client)
    tracking_number_for(other_campaign, phone_number="+16175550300")
    theirs = incoming(called="+16175550300")

    response = agent.get(AGENT_SCREEN)

    assert response.status_code == 200
    assert [call.pk for call in response.context["live"]] == [live.pk]
    assert [call.pk for call in response.context["recent"]] == [done.pk]
    assert agent.get(page(theirs)).status_code == 404
    assert agent.get(page(live)).status_code == 200


def test_a_matched_caller_is_shown(agent, number, campaign_and_caller):
    session = incoming()
    body = agent.get(page(session)).content.decode()
    assert str(campaign_and_caller[1]) in body and "send reward" in body


def test_an_ambiguous_caller_is_picked_by_the_agent(agent, tenant_a, household):
    campaign, (first, second, _) = household
    session = incoming()
    response = agent.get(page(session))
    assert [person.pk for person in response.context["candidates"]] == [first.pk, second.pk]

    response = agent.post(page(session), {"action": "pick", "recipient": second.pk}, follow=True)

    session.refresh_from_db()
    assert (session.recipient, session.match_method, session.agent) == (second, "agent_phone", tenant_a.agent)
    assert f"Matched to {second}." in messages_of(response)
    audit = AuditLog.objects.get(object_type="calltracking.CallSession", object_id=str(session.pk))
    assert audit.actor == tenant_a.agent and audit.changes["recipient"] == [None, second.pk]


def test_an_unmatched_caller_is_found_by_printed_code(agent, household):
    campaign, (_, _, third) = household
    session = incoming(caller="+16175550999")
    typed = format_short_code(third.short_code).lower().replace("-", " ")
    agent.post(page(session), {"action": "find", "query": typed})

    session.refresh_from_db()
    assert (session.recipient, session.match_method) == (third, "agent_code")


def test_a_phone_given_in_any_format_matches_when_only_one_has_it(agent, household):
    campaign, (_, _, third) = household
    session = incoming(caller="anonymous")
    agent.post(page(session), {"action": "find", "query": "(617) 555-0135"})

    session.refresh_from_db()
    assert (session.recipient, session.match_method) == (third, "agent_phone")


def test_a_phone_several_people_share_lists_them_to_pick_from(agent, household):
    campaign, (first, second, _) = household
    session = incoming(caller="anonymous")
    response = agent.post(page(session), {"action": "find", "query": "617 555 0134"})

    assert response.status_code == 200
    assert [person.pk for person in response.context["candidates"]] == [first.pk, second.pk]
    session.refresh_from_db()
    assert session.recipient is None


def test_only_the_calls_campaign_is_searched(agent, household, make_campaign):
    other, (stranger,) = make_campaign(["+16175550177"])
    session = incoming(caller="anonymous")

    response = agent.post(page(session), {"action": "find", "query": stranger.short_code})
    assert "No recipient of this campaign" in response.content.decode()
    agent.post(page(session), {"action": "pick", "recipient": stranger.pk})
    session.refresh_from_db()
    assert session.recipient is None


def test_a_disposition_and_notes_are_kept(agent, tenant_a, number):
    session = incoming()
    agent.post(page(session), {"action": "disposition", "disposition": "call_back", "notes": "Call after 5pm"})

    session.refresh_from_db()
    assert (session.disposition, session.notes, session.agent) == ("call_back", "Call after 5pm", tenant_a.agent)


def test_an_unknown_action_is_a_bad_request(agent, number):
    assert agent.post(page(incoming()), {"action": "explode"}).status_code == 400


# --- The reward -------------------------------------------------------------------------------

def test_condition_met_sends_the_reward_through_the_redemption_service(agent, tenant_a, number, campaign_and_caller):
    campaign, caller = campaign_and_caller
    session = incoming()

    response = agent.post(page(session), {"action": "reward"}, follow=True)

    card = GiftCard.objects.get(recipient=caller)
    assert card.status == GiftCardStatus.CLAIMED
    session.refresh_from_db()
    assert (session.gift_card, session.disposition, session.agent) == (card, "condition_met", tenant_a.agent)
    log = GiftCardLog.objects.get(card=card, action="claimed")
    assert (log.actor, log.reason) == (tenant_a.agent, "channel: agent")
    audit = AuditLog.objects.get(object_type="giftcards.GiftCard", object_id=str(card.pk))
    assert audit.actor == tenant_a.agent and audit.client == tenant_a.client
    assert any("Reward sent" in message and card.last4 in message for message in messages_of(response))


def test_clicking_twice_awards_one_card(agent, number, campaign_and_caller):
    session = incoming()
    agent.post(page(session), {"action": "reward"})
    response = agent.post(page(session), {"action": "reward"}, follow=True)

    assert GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).count() == 1
    assert GiftCardLog.objects.filter(action="claimed").count() == 1
    assert any("already has their reward" in message for message in messages_of(response))


def test_no_reward_without_a_match(agent, household):
    session = incoming(caller="anonymous")
    response = agent.post(page(session), {"action": "reward"}, follow=True)

    assert "Match the caller to a recipient first." in messages_of(response)
    assert not GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).exists()


def test_redemption_rules_still_apply(agent, number, campaign_and_caller):
    campaign, _ = campaign_and_caller
    campaign.status = "paused"
    campaign.save()
    response = agent.post(page(incoming()), {"action": "reward"}, follow=True)

    assert "not accepting redemptions" in " ".join(messages_of(response))
    assert not GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).exists()


def test_a_rewarded_calls_match_is_frozen(agent, household):
    campaign, (first, second, _) = household
    session = incoming()
    agent.post(page(session), {"action": "pick", "recipient": first.pk})
    agent.post(page(session), {"action": "reward"})
    response = agent.post(page(session), {"action": "pick", "recipient": second.pk}, follow=True)

    session.refresh_from_db()
    assert session.recipient == first
    assert any("cannot change" in message for message in messages_of(response))


@pytest.mark.django_db(transaction=True)
def test_two_agents_clicking_at_once_award_one_card(tenant_a, number, campaign_and_caller):
    session = incoming()
    start_together = threading.Barrier(2)

    def click():
        browser = Client()
        browser.force_login(tenant_a.agent)
        try:
            start_together.wait(timeout=30)
            return browser.post(page(session), {"action": "reward"}).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(lambda _: click(), range(2))) == [302, 302]

    assert GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).count() == 1
    assert GiftCardLog.objects.filter(action="claimed").count() == 1
    session.refresh_from_db()
    assert session.gift_card == GiftCard.objects.get(recipient=campaign_and_caller[1])


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_awards_for_one_call_claim_one_card(tenant_a, number, campaign_and_caller):
    session = incoming()
    start_together = threading.Barrier(8)

    def award():
        try:
            start_together.wait(timeout=30)
            return award_reward(session=session, actor=tenant_a.agent).created
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda _: award(), range(8)))

    assert sorted(created) == [False] * 7 + [True]
    assert GiftCard.objects.exclude(status=GiftCardStatus.AVAILABLE).count() == 1


# --- The agent screen in the dashboard: caller search, the refreshed list, the nav ---------------------------

LIVE_LIST = "/app/calls/agent/live/"


def listed(response):
    return [call.pk for call in response.context["live"] + response.context["recent"]]


def test_a_caller_is_found_by_phone_in_any_format_or_by_name(agent, household, tenant_b, make_campaign):
    campaign, (first, _, third) = household
    agent.post(page(incoming()), {"action": "pick", "recipient": first.pk})
    from_first = CallSession.objects.get(recipient=first)
    from_third = incoming(caller="+16175550135")
    withheld = incoming(caller="anonymous")
    other_campaign, _ = make_campaign(["+16175550135"], client=tenant_b.client)
    tracking_number_for(other_campaign, phone_number="+16175550300")
    theirs = incoming(caller="+16175550135", called="+16175550300")

    assert listed(agent.get(AGENT_SCREEN, {"q": "617.555.0135"})) == [from_third.pk]
    assert listed(agent.get(AGENT_SCREEN, {"q": "+1 (617) 555-0134"})) == [from_first.pk]
    assert listed(agent.get(AGENT_SCREEN, {"q": f"{first.first_name.lower()} lee"})) == [from_first.pk]
    assert listed(agent.get(AGENT_SCREEN, {"q": "Nobody"})) == []
    everything = listed(agent.get(AGENT_SCREEN))
    assert {from_first.pk, from_third.pk, withheld.pk} == set(everything) and theirs.pk not in everything
    # The fragment the open screen fetches keeps the search.
    assert listed(agent.get(LIVE_LIST, {"q": "617.555.0135"})) == [from_third.pk]


def test_a_search_too_long_is_refused_on_the_page(agent, number):
    response = agent.get(AGENT_SCREEN, {"q": "9" * 101})
    assert response.status_code == 200
    assert "at most 100 characters" in response.content.decode()
    assert listed(response) == listed(agent.get(AGENT_SCREEN))


def test_the_refreshed_list_holds_the_agents_calls_only(agent, number, make_campaign, tenant_b):
    ours = incoming()
    other_campaign, _ = make_campaign(["+16175550134"], client=tenant_b.client)
    tracking_number_for(other_campaign, phone_number="+16175550300")
    theirs = incoming(called="+16175550300")

    response = agent.get(LIVE_LIST)

    assert response.status_code == 200 and listed(response) == [ours.pk]
    body = response.content.decode()
    assert "<html" not in body and f'data-call="{ours.pk}"' in body and f'data-call="{theirs.pk}"' not in body
    assert 'data-count="live">1<' in body


def test_a_member_gets_no_call_list(client, tenant_a, number):
    incoming()
    client.force_login(tenant_a.member)
    assert client.get(LIVE_LIST).status_code == 403


def test_the_agent_screen_is_in_the_dashboard_layout_with_the_agents_nav(agent, number):
    body = agent.get(AGENT_SCREEN).content.decode()
    assert 'class="sidebar"' in body and 'http-equiv="refresh"' not in body
    nav = body[body.index('class="sidebar"'):body.index("</aside>")]
    assert 'href="/app/calls/agent/" aria-current="page"' in nav
    assert "/app/settings/api-keys/" not in nav
    # Every page the agent's menu offers opens for them.
    for href in re.findall(r'href="(/app/[^"]*)"', nav):
        assert agent.get(href).status_code == 200, href


def test_the_disposition_select_has_a_label(agent, number):
    body = agent.get(page(incoming())).content.decode()
    assert '<label for="id_disposition">Outcome of the call</label>' in body
