"""Retries follow the documented schedule over about three days, then the message fails; an endpoint whose
attempts keep failing for more than a day is disabled and its client's admins are emailed."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from webhooks import publish
from webhooks.choices import DisabledReason, EventType, MessageStatus
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from webhooks.services import MAX_ATTEMPTS, RETRY_SCHEDULE_SECONDS, deliver, retry_delay

from .receivers import start_receiver

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_schedule():
    assert RETRY_SCHEDULE_SECONDS == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 72000)
    assert [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)] == [*RETRY_SCHEDULE_SECONDS, None]
    assert timedelta(days=2.9) < timedelta(seconds=sum(RETRY_SCHEDULE_SECONDS)) < timedelta(days=3.1)


@pytest.fixture
def failing(local_network):
    server = start_receiver(status=500)
    yield server
    server.stop()


def test_a_message_that_always_fails_is_retried_on_schedule_then_fails_and_disables_its_endpoint(
        tenant_a, tenant_b, failing, endpoint_for, time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(START, tick=False)
    endpoint, _ = endpoint_for(tenant_a.client, failing.url, [EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    due_times = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        message = WebhookMessage.objects.get(pk=message_id)
        assert message.status == MessageStatus.PENDING and message.attempts == attempt - 1
        time_machine.move_to(message.next_attempt_at, tick=False)
        due_times.append(message.next_attempt_at)
        with django_capture_on_commit_callbacks(execute=attempt == MAX_ATTEMPTS):
            assert deliver(message_id=message_id) is not None
        endpoint.refresh_from_db()
        assert endpoint.is_enabled == (attempt < MAX_ATTEMPTS), attempt
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(due_times, due_times[1:])]
    assert gaps == list(RETRY_SCHEDULE_SECONDS)
    message = WebhookMessage.objects.get(pk=message_id)
    assert message.status == MessageStatus.FAILED and message.attempts == MAX_ATTEMPTS
    assert WebhookDelivery.objects.filter(message=message, succeeded=False).count() == MAX_ATTEMPTS == len(
        failing.received)

    assert endpoint.disabled_reason == DisabledReason.FAILING and endpoint.consecutive_failures == MAX_ATTEMPTS
    (email,) = mail.outbox
    assert email.to == [tenant_a.admin.email] and failing.url in email.subject
    assert "enable the endpoint again" in email.body and tenant_b.admin.email not in email.to
    # Disabled: no new messages, and replaying is refused until it is enabled again.
    assert publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={}) == []


def test_failures_within_a_day_do_not_disable(tenant_a, failing, endpoint_for, time_machine, settings):
    time_machine.move_to(START, tick=False)
    endpoint, _ = endpoint_for(tenant_a.client, failing.url, [EventType.PROOF_READY])
    for _ in range(settings.WEBHOOKS_DISABLE_AFTER_FAILURES + 5):
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
        deliver(message_id=message_id)
        time_machine.shift(timedelta(minutes=30))
    endpoint.refresh_from_db()
    assert endpoint.is_enabled and endpoint.consecutive_failures == settings.WEBHOOKS_DISABLE_AFTER_FAILURES + 5
    assert mail.outbox == []


def test_a_success_ends_the_failure_streak(tenant_a, local_network, endpoint_for, time_machine):
    time_machine.move_to(START, tick=False)
    flaky = start_receiver(status=500)
    try:
        endpoint, _ = endpoint_for(tenant_a.client, flaky.url, [EventType.PROOF_READY])
        for _ in range(3):
            (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
            deliver(message_id=message_id)
        flaky.status = 200
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
        assert deliver(message_id=message_id).succeeded
    finally:
        flaky.stop()
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert endpoint.consecutive_failures == 0 and endpoint.failing_since is None
