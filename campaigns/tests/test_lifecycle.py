from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import AuditLog
from analytics.models import Event
from campaigns.choices import TRANSITIONS, CampaignStatus
from campaigns.exceptions import IllegalTransition, TransitionRuleViolation
from campaigns.services import create_recipient, transition_campaign
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory
from mailpieces.tests.factories import ready_proof

pytestmark = pytest.mark.django_db

ALL_PAIRS = [(a, b) for a in CampaignStatus for b in CampaignStatus if a != b]
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


@pytest.fixture
def ready_campaign(tenant_a):
    """A campaign that satisfies every transition rule, so only the state machine decides."""
    campaign = CampaignFactory(client=tenant_a.client, template=MailTemplateFactory(client=tenant_a.client),
                               mail_date=timezone.localdate() + timedelta(days=7))
    create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St", city="Boston",
                     state="MA", postal_code="02108")
    ready_proof(campaign)
    campaign.refresh_from_db()
    return campaign


def test_the_lifecycle_is_exactly_as_documented():
    assert set(LEGAL) == {
        ("draft", "proofed"), ("proofed", "approved"), ("approved", "scheduled"), ("scheduled", "in_production"),
        ("in_production", "mailed"), ("mailed", "active"), ("active", "completed"),
        ("active", "paused"), ("paused", "active"), ("paused", "completed"), ("proofed", "draft"),
        ("draft", "cancelled"), ("proofed", "cancelled"), ("approved", "cancelled"), ("scheduled", "cancelled"),
        ("in_production", "cancelled"),
    }


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_every_legal_transition_is_applied_audited_and_recorded(ready_campaign, current, target):
    ready_campaign.status = current
    ready_campaign.save()
    moved = transition_campaign(campaign=ready_campaign, to_status=target)
    assert moved.status == target
    assert moved.status_changed_at is not None
    audit = AuditLog.objects.get(action=AuditAction.TRANSITION, object_id=str(ready_campaign.pk))
    assert audit.changes["status"] == [current, target]
    event = Event.objects.get(campaign_id=ready_campaign.pk, event_type="campaign_status_changed")
    # Proofing and approving name the proof they were made from.
    proof = {"proof_version": 1} if target in (CampaignStatus.PROOFED, CampaignStatus.APPROVED) else {}
    assert event.payload == {"from": current, "to": target, **proof}


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(ready_campaign, current, target):
    ready_campaign.status = current
    ready_campaign.save()
    with pytest.raises(IllegalTransition) as refused:
        transition_campaign(campaign=ready_campaign, to_status=target)
    assert refused.value.status == 409
    ready_campaign.refresh_from_db()
    assert ready_campaign.status == current
    assert not AuditLog.objects.filter(action=AuditAction.TRANSITION).exists()
    assert not Event.objects.filter(event_type="campaign_status_changed").exists()


def test_proofing_needs_a_template(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    with pytest.raises(TransitionRuleViolation, match="template"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.PROOFED)


def test_approval_needs_recipients(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client, template=MailTemplateFactory(client=tenant_a.client),
                               status=CampaignStatus.PROOFED)
    with pytest.raises(TransitionRuleViolation, match="recipients"):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.APPROVED)


@pytest.mark.parametrize("target", [CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED])
def test_scheduling_production_and_mailing_need_a_mail_date(ready_campaign, target):
    ready_campaign.mail_date = None
    ready_campaign.status = {v: k for k, vs in TRANSITIONS.items() for v in vs if k != "paused"}[target]
    ready_campaign.save()
    with pytest.raises(TransitionRuleViolation, match="mail date"):
        transition_campaign(campaign=ready_campaign, to_status=target)


def test_scheduling_refuses_a_past_mail_date(ready_campaign):
    ready_campaign.status = CampaignStatus.APPROVED
    ready_campaign.mail_date = timezone.localdate() - timedelta(days=1)
    ready_campaign.save()
    with pytest.raises(TransitionRuleViolation, match="in the past"):
        transition_campaign(campaign=ready_campaign, to_status=CampaignStatus.SCHEDULED)


def test_api_transition_answers_409_in_the_error_shape(key_client, ready_campaign):
    url = f"/api/v1/campaigns/{ready_campaign.pk}/transition/"
    response = key_client.post(url, {"to": "mailed"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition" and error["field"] == "to"
    assert "cannot go from Draft to Mailed" in error["message"]
    assert "cancelled, proofed" in error["message"]

    ok = key_client.post(url, {"to": "proofed", "reason": "proof signed"})
    assert ok.status_code == 200
    assert ok.json()["status"] == "proofed"
    assert ok.json()["allowed_transitions"] == ["approved", "cancelled", "draft"]
    event = Event.objects.get(event_type="campaign_status_changed")
    assert event.source == "api" and event.payload["reason"] == "proof signed"
    assert key_client.post(url, {"to": "flying"}).json()["error"]["field"] == "to"


def test_members_may_transition_but_agents_may_not(api_client, tenant_a, ready_campaign):
    url = f"/api/v1/campaigns/{ready_campaign.pk}/transition/"
    api_client.force_login(tenant_a.agent)
    assert api_client.post(url, {"to": "proofed"}).status_code == 403
    api_client.force_login(tenant_a.member)
    assert api_client.post(url, {"to": "proofed"}).status_code == 200


def test_admin_action_reports_an_illegal_transition_without_failing(staff_client, ready_campaign):
    client = staff_client
    response = client.post("/admin/campaigns/campaign/", {
        "action": "transition_to_mailed", "_selected_action": [ready_campaign.pk],
    }, follow=True)
    assert response.status_code == 200
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("cannot go from Draft to Mailed" in text for text in texts)
    ready_campaign.refresh_from_db()
    assert ready_campaign.status == CampaignStatus.DRAFT

    client.post("/admin/campaigns/campaign/", {
        "action": "transition_to_proofed", "_selected_action": [ready_campaign.pk],
    })
    ready_campaign.refresh_from_db()
    assert ready_campaign.status == CampaignStatus.PROOFED
    assert Event.objects.get(event_type="campaign_status_changed").source == "staff"
