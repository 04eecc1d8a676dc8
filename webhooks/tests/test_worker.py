"""Through real Celery worker processes: an event published by another process is delivered by a worker, and a
worker killed with SIGKILL in the middle of a delivery leaves the message to the sweeper, which sends it again
(same webhook-id: receivers drop the duplicate)."""

import json
import shlex

import pytest
from standardwebhooks import Webhook

from mobul.tests.processes import (  # noqa: F401  (redis_server: the fixture)
    ROOT,
    Worker,
    app_environment,
    redis_server,
    run_in_app_process,
    send_task,
    wait_for,
    wait_until_consuming,
)
from webhooks.choices import MessageStatus
from webhooks.models import WebhookMessage

from .receivers import start_receiver

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


def environment(redis_server):
    return app_environment(redis_server, WEBHOOKS_ALLOW_PRIVATE_NETWORKS="1", WEBHOOKS_ALLOW_HTTP="1",
                           WEBHOOKS_LEASE_SECONDS=str(LEASE_SECONDS), WEBHOOKS_READ_TIMEOUT_SECONDS="60")


def publish_elsewhere(env, client_id):
    """The domain change happens in a process of its own (Celery not eager): its commit queues the delivery."""
    run_in_app_process(env, "from django.db import transaction\nfrom webhooks import publish\n"
                            "with transaction.atomic():\n"
                            f"    publish(client_id={client_id}, event_type='proof.ready', data={{'proof_id': 9}})\n")
    return WebhookMessage.objects.get()


def status_of(message):
    return WebhookMessage.objects.get(pk=message.pk).status


def test_a_real_worker_delivers_a_signed_event(tenant_a, redis_server, endpoint_for):
    receiver = start_receiver()
    worker = Worker(environment(redis_server))
    try:
        _, secret = endpoint_for(tenant_a.client, receiver.url)
        wait_until_consuming(redis_server)
        message = publish_elsewhere(environment(redis_server), tenant_a.client.pk)
        (request,) = receiver.wait_for(1, seconds=60)
        assert Webhook(secret).verify(request.body, request.headers)["data"] == {"proof_id": 9}
        wait_for(lambda: status_of(message) == MessageStatus.DELIVERED, "the worker did not record the delivery")
        assert worker.alive(), worker.errors()
    finally:
        worker.stop()
        receiver.stop()


def test_a_worker_killed_mid_delivery_leaves_the_message_to_the_sweeper(tenant_a, redis_server, endpoint_for):
    receiver = start_receiver(delay=30)  # holds the first attempt until the worker is killed
    first = Worker(environment(redis_server))
    try:
        endpoint_for(tenant_a.client, receiver.url)
        wait_until_consuming(redis_server)
        message = publish_elsewhere(environment(redis_server), tenant_a.client.pk)
        receiver.wait_for(1, seconds=60)
        assert status_of(message) == MessageStatus.DELIVERING
    finally:
        first.kill()
    receiver.delay = 0
    restarted = Worker(environment(redis_server))
    try:
        wait_until_consuming(redis_server)
        # The killed worker's task stays unacknowledged in the broker for an hour; beat's minutely sweep (sent
        # here every second) hands the message out again once its lease has expired.
        def swept():
            send_task(redis_server, "webhooks.tasks.sweep_messages")
            return status_of(message) == MessageStatus.DELIVERED
        wait_for(swept, "the sweeper did not deliver the stranded message", seconds=60)
    finally:
        restarted.stop()
        receiver.stop()
    first_try, second_try = receiver.received[:2]
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"] == message.webhook_id
    assert json.loads(first_try.body) == json.loads(second_try.body)
    message.refresh_from_db()
    assert message.attempts == 2 and list(message.deliveries.values_list("succeeded", flat=True)) == [True]


def webhooks_worker_options():
    """The pool, concurrency and queues of Procfile.dev's webhooks worker group, as it runs them."""
    (line,) = [line for line in (ROOT / "Procfile.dev").read_text().splitlines() if line.startswith("webhooks:")]
    words = shlex.split(line)
    return [word for flag in ("--pool", "--concurrency", "-Q") for word in (flag, words[words.index(flag) + 1])]


def test_the_webhooks_worker_group_keeps_a_hanging_endpoint_to_its_cap(tenant_a, tenant_b, redis_server,
                                                                       endpoint_for):
    """In the webhooks worker group as Procfile.dev runs it, client A's endpoint hangs on every delivery, yet
    client B's event, published after four of A's, arrives at once: A's endpoint holds only its cap of threads."""
    hanging, fast = start_receiver(delay=20), start_receiver()
    worker = Worker(environment(redis_server), *webhooks_worker_options())
    try:
        endpoint_for(tenant_a.client, hanging.url)
        endpoint_for(tenant_b.client, fast.url)
        wait_until_consuming(redis_server)
        run_in_app_process(environment(redis_server), "from django.db import transaction\nfrom webhooks import publish\n"
                           "for client_id in [" + f"{tenant_a.client.pk}, " * 4 + f"{tenant_b.client.pk}]:\n"
                           "    with transaction.atomic():\n"
                           "        publish(client_id=client_id, event_type='proof.ready', data={'proof_id': 9})\n")
        hanging.wait_for(2, seconds=30)
        fast.wait_for(1, seconds=10)
        assert len(hanging.received) == hanging.max_in_flight == 2  # the cap; A's other two wait their turn
        delivered = WebhookMessage.objects.filter(client=tenant_b.client, status=MessageStatus.DELIVERED)
        wait_for(delivered.exists, "the worker's thread did not record B's delivery")
        assert worker.alive(), worker.errors()
    finally:
        worker.stop()
        hanging.stop()
        fast.stop()
