"""The outbox is part of the domain change's transaction, and costs next to nothing when nobody listens."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.services import transition_campaign
from mailpieces.tests.factories import campaign_with
from webhooks import publish
from webhooks.choices import EventType
from webhooks.models import WebhookMessage
from webhooks.services import update_endpoint

pytestmark = pytest.mark.django_db


class Abandon(Exception):
    pass


def test_no_message_survives_a_rolled_back_domain_change(tenant_a, endpoint_for, django_capture_on_commit_callbacks):
    endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks")
    campaign = campaign_with(tenant_a.client)
    with django_capture_on_commit_callbacks() as queued, pytest.raises(Abandon):
        with transaction.atomic():
            transition_campaign(campaign=campaign, to_status=CampaignStatus.CANCELLED)
            assert WebhookMessage.objects.count() == 1  # written with the change...
            raise Abandon()
    assert not WebhookMessage.objects.exists()  # ...and gone with it
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert queued == []  # nothing was queued for delivery either


def test_a_committed_change_is_delivered_once_it_commits(tenant_a, receiver, endpoint_for,
                                                          django_capture_on_commit_callbacks):
    endpoint_for(tenant_a.client, receiver.url)
    campaign = campaign_with(tenant_a.client)
    with django_capture_on_commit_callbacks(execute=True):
        transition_campaign(campaign=campaign, to_status=CampaignStatus.CANCELLED)
        assert receiver.received == []  # nothing leaves before the commit
    (request,) = receiver.wait_for(1)
    assert request.headers["webhook-id"] == WebhookMessage.objects.get().webhook_id


def test_without_subscribers_publishing_is_one_query_then_none(tenant_a, endpoint_for):
    endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks", [EventType.PROOF_READY])
    with CaptureQueriesContext(connection) as cold:
        assert publish(client_id=tenant_a.client.pk, event_type=EventType.GIFT_CARD_CLAIMED, data={}) == []
    with CaptureQueriesContext(connection) as warm:
        assert publish(client_id=tenant_a.client.pk, event_type=EventType.GIFT_CARD_CLAIMED, data={}) == []
    assert len(cold) == 1 and len(warm) == 0
    with CaptureQueriesContext(connection) as subscribed:
        assert len(publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})) == 1
    assert len(subscribed) == 1  # one INSERT ... SELECT of the subscribed endpoints


def test_an_endpoint_change_is_seen_by_the_next_publish(tenant_a, endpoint_for, django_capture_on_commit_callbacks):
    assert publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={}) == []  # cached: none
    with django_capture_on_commit_callbacks(execute=True):
        endpoint, _ = endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks", [EventType.CALL_COMPLETED])
    assert publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={}) == []
    with django_capture_on_commit_callbacks(execute=True):
        update_endpoint(endpoint=endpoint, event_types=[EventType.PROOF_READY])
    assert len(publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})) == 1


def test_without_redis_publishing_still_writes_the_outbox(tenant_a, endpoint_for, settings):
    endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks")
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    assert len(publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})) == 1
