"""At least once: the sweeper finds messages whose dispatch or task was lost and deliveries whose worker died (lease
expired), and queues them again; a backlog is queued a few at a time per endpoint."""

from datetime import UTC, datetime, timedelta

import pytest

from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookMessage
from webhooks.services import _claim, dispatch, sweep

pytestmark = pytest.mark.django_db

START = datetime(2026, 9, 9, 8, 0, tzinfo=UTC)


def test_a_message_whose_dispatch_was_lost_is_queued_by_the_sweeper(
        tenant_a, receiver, endpoint_for, django_capture_on_commit_callbacks):
    endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})  # no wake-up
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == {"released": 0, "queued": 1}
    receiver.wait_for(1)
    assert WebhookMessage.objects.get(pk=message_id).status == MessageStatus.DELIVERED


def test_a_message_whose_task_was_lost_is_queued_again_once_late(
        tenant_a, receiver, endpoint_for, time_machine, settings, django_capture_on_commit_callbacks):
    time_machine.move_to(START, tick=False)
    endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    with django_capture_on_commit_callbacks():  # its delivery task is queued, then lost with the broker
        assert dispatch() == 1
    assert sweep() == {"released": 0, "queued": 0}  # its task may still be on its way
    time_machine.shift(timedelta(seconds=settings.WEBHOOKS_REQUEUE_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == {"released": 0, "queued": 1}
    receiver.wait_for(1)
    assert WebhookMessage.objects.get(pk=message_id).status == MessageStatus.DELIVERED


def test_a_delivery_whose_worker_died_is_released_after_its_lease_and_sent_again(
        tenant_a, receiver, endpoint_for, time_machine, settings, django_capture_on_commit_callbacks):
    time_machine.move_to(START, tick=False)
    endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    assert _claim(message_id, START) is not None  # a worker took it, then died before it reported back
    time_machine.shift(timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS - 1))
    assert sweep()["released"] == 0
    time_machine.shift(timedelta(seconds=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == {"released": 1, "queued": 1}
    (request,) = receiver.wait_for(1)
    message = WebhookMessage.objects.get(pk=message_id)
    assert message.status == MessageStatus.DELIVERED and message.attempts == 2
    assert request.headers["webhook-id"] == message.webhook_id


def test_a_backlog_is_queued_no_faster_than_the_endpoints_in_flight_cap(tenant_a, endpoint_for, time_machine,
                                                                      settings, django_capture_on_commit_callbacks):
    time_machine.move_to(START, tick=False)
    endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks", [EventType.PROOF_READY])
    for _ in range(10):
        publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    with django_capture_on_commit_callbacks() as queued:
        assert dispatch() == settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT
    assert len(queued) == 1  # one on-commit hook queues them
    time_machine.shift(timedelta(seconds=settings.WEBHOOKS_REQUEUE_SECONDS + 1))
    assert sweep()["queued"] == settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT
