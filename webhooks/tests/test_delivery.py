"""Delivery to a real local HTTP server: Standard Webhooks signatures that standardwebhooks verifies on the
receiving side, the delivery log, and what a failed attempt leads to."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookDelivery, WebhookMessage
from webhooks.services import deliver

from .receivers import start_receiver

pytestmark = pytest.mark.django_db


def test_a_published_event_arrives_signed_and_verifies_with_standardwebhooks(
        tenant_a, receiver, endpoint_for, django_capture_on_commit_callbacks):
    endpoint, secret = endpoint_for(tenant_a.client, receiver.url, [EventType.CAMPAIGN_STATUS_CHANGED])
    with django_capture_on_commit_callbacks(execute=True):
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.CAMPAIGN_STATUS_CHANGED,
                                data={"campaign_id": 7, "from": "draft", "to": "proofed"})
    (request,) = receiver.wait_for(1)
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "campaign.status_changed" and payload["data"] == {
        "campaign_id": 7, "from": "draft", "to": "proofed"}
    message = WebhookMessage.objects.get(pk=message_id)
    assert request.headers["webhook-id"] == message.webhook_id
    assert message.status == MessageStatus.DELIVERED and message.attempts == 1
    attempt = WebhookDelivery.objects.get(message=message)
    assert attempt.succeeded and attempt.status_code == 200 and attempt.response_snippet == '{"ok": true}'
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"not the endpoint's secret").decode()).verify(request.body,
                                                                                            request.headers)


def test_nobody_subscribed_means_no_message(tenant_a, tenant_b, receiver, endpoint_for):
    endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    assert publish(client_id=tenant_a.client.pk, event_type=EventType.CALL_COMPLETED, data={}) == []
    assert publish(client_id=tenant_b.client.pk, event_type=EventType.PROOF_READY, data={}) == []
    assert not WebhookMessage.objects.exists()


def test_a_failed_attempt_is_logged_and_retried_with_the_same_webhook_id(tenant_a, local_network, endpoint_for):
    failing = start_receiver(status=503, answer=b"down for maintenance " * 100)
    try:
        endpoint, _ = endpoint_for(tenant_a.client, failing.url)
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={"proof": 1})
        before = timezone.now()
        attempt = deliver(message_id=message_id)
        assert not attempt.succeeded and attempt.status_code == 503 and attempt.error == "HTTP 503"
        assert len(attempt.response_snippet) == 500
        message = WebhookMessage.objects.get(pk=message_id)
        assert message.status == MessageStatus.PENDING and message.attempts == 1
        assert before + timedelta(seconds=5) <= message.next_attempt_at <= timezone.now() + timedelta(seconds=5)
        assert deliver(message_id=message_id) is None  # not due yet: a duplicate task does nothing
        WebhookMessage.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        deliver(message_id=message_id)
        first, second = failing.wait_for(2)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.webhook_id
        assert json.loads(first.body) == json.loads(second.body)
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 2 and endpoint.is_enabled
    finally:
        failing.stop()


def test_redirects_are_not_followed(tenant_a, local_network, endpoint_for):
    moved = start_receiver(status=302)
    try:
        endpoint_for(tenant_a.client, moved.url)
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
        attempt = deliver(message_id=message_id)
        assert attempt.status_code == 302 and not attempt.succeeded and "not followed" in attempt.error
        assert len(moved.received) == 1
    finally:
        moved.stop()


def test_a_slow_receiver_times_out(tenant_a, local_network, endpoint_for, settings):
    settings.WEBHOOKS_READ_TIMEOUT_SECONDS = 1
    slow = start_receiver(delay=3)
    try:
        endpoint_for(tenant_a.client, slow.url)
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
        attempt = deliver(message_id=message_id)
        assert not attempt.succeeded and attempt.status_code is None and "Timeout" in attempt.error
        assert 900 <= attempt.latency_ms < 2900
    finally:
        slow.stop()
