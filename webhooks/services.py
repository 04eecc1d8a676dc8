"""Outbound webhooks: endpoints and their secrets, the outbox, delivery with retries, replay, the sweeper.

A message lives like this:

    pending --claim--> delivering --2xx--> delivered
       ^                  | failure: the next attempt is due after RETRY_SCHEDULE_SECONDS[attempt - 1]
       +------------------+ (failed after the last one); lease expired (worker died): the sweeper

`publish` writes the messages in the caller's transaction; once it commits, one coalesced dispatch run (queued
once per burst) queues a delivery task per due message, at most the endpoint's in-flight cap of them. A task claims its message (pending and due) under the endpoint's row lock, which also keeps at most
WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT deliveries of one endpoint running: a message over that cap stays pending with
no task on its way, and the endpoint's next finished delivery (or the sweeper) queues it. So a dead endpoint
holds at most that many worker slots, for at most the connect and read timeouts each.
"""

import base64
import json
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from standardwebhooks import Webhook

from accounts.choices import AuditAction
from accounts.services import record_audit
from giftcards.crypto import decrypt_code, encrypt_code
from mobul.celery import after_commit, message_counts, queue_of, queue_once
from mobul.db import prepared_cursor, sql_literal

from . import delivery
from .choices import DisabledReason, EventType, MessageStatus
from .exceptions import EndpointDisabled, MessageInFlight
from .models import WebhookDelivery, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)

# Seconds from a failed attempt to the next: 10 attempts over about 3 days (71.6 hours after the first).
RETRY_SCHEDULE_SECONDS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 20 * 3600)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS) + 1
# A retry due within this long is queued with a countdown; later ones are queued by the sweeper once due
# (a countdown longer than the broker's visibility timeout would be delivered twice).
COUNTDOWN_MAX_SECONDS = 300
SWEEP_CHUNK = 500
# A wake-up lost with the broker is made up by the minutely sweeper; the key must not outlive that much.
DISPATCH_SCHEDULED_TIMEOUT = 60
NEVER = datetime.min.replace(tzinfo=UTC)
SECRET_BYTES = 24
PENDING, DELIVERING, DELIVERED, FAILED = (sql_literal(status) for status in MessageStatus)


def retry_delay(attempts):
    """Seconds until the next attempt after `attempts` failed ones, or None when that was the last."""
    return RETRY_SCHEDULE_SECONDS[attempts - 1] if attempts < MAX_ATTEMPTS else None


# --- Secrets ------------------------------------------------------------------------------------

def _new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _set_secret(endpoint, secret):
    endpoint.secret_encrypted, endpoint.secret_last4 = encrypt_code(secret), secret[-4:]


def signing_secrets(endpoint, now):
    """The secrets deliveries are signed with at `now`: the current one, and the previous one while its
    overlap after a rotation lasts."""
    keys = [decrypt_code(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and (
            now < endpoint.previous_secret_expires_at):
        keys.append(decrypt_code(endpoint.previous_secret_encrypted))
    return keys


def signed_headers(message, keys, at):
    """Standard Webhooks headers: one signature per secret, space-separated, as the spec allows."""
    signatures = " ".join(Webhook(key).sign(message.webhook_id, at, message.body) for key in keys)
    return {"webhook-id": message.webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures}


# --- Endpoints ----------------------------------------------------------------------------------

def _subscriptions_key(client_id):
    return f"webhooks:subscribed:{client_id}"


def _forget_subscriptions(client_id):
    def forget():
        try:
            cache.delete(_subscriptions_key(client_id))
        except (ConnectionInterrupted, RedisError):
            logger.warning("webhooks: subscriptions of client %s not invalidated (cache down)", client_id)
    after_commit(forget)


def _audit(action, endpoint, request, changes=None):
    record_audit(action=action, obj=endpoint, client_id=endpoint.client_id, request=request, changes=changes or {})


@transaction.atomic
def create_endpoint(*, client, url, event_types, description="", request=None):
    """A new enabled endpoint; returns (endpoint, secret). The secret is shown once and stored encrypted."""
    endpoint = WebhookEndpoint(client=client, url=url, event_types=list(event_types), description=description)
    secret = _new_secret()
    _set_secret(endpoint, secret)
    endpoint.full_clean()
    endpoint.save()
    _audit(AuditAction.CREATE, endpoint, request,
           {"url": endpoint.url, "event_types": endpoint.event_types, "description": description})
    _forget_subscriptions(client.pk)
    return endpoint, secret


EDITABLE = ("url", "description", "event_types", "is_enabled")


@transaction.atomic
def update_endpoint(*, endpoint, request=None, **changes):
    """Changes `url`, `description`, `event_types` and `is_enabled`. Disabling stops new messages and fails
    the pending ones when their turn comes; enabling again clears the failure streak."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"update_endpoint() cannot change {sorted(unknown)}")
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = {name: getattr(locked, name) for name in changes}
    for name, value in changes.items():
        setattr(locked, name, list(value) if name == "event_types" else value)
    if "is_enabled" in changes and changes["is_enabled"] != before["is_enabled"]:
        if locked.is_enabled:
            locked.disabled_reason, locked.disabled_at = DisabledReason.NONE, None
            locked.consecutive_failures, locked.failing_since = 0, None
        else:
            locked.disabled_reason, locked.disabled_at = DisabledReason.BY_USER, timezone.now()
    locked.full_clean()
    locked.save()
    diff = {name: [before[name], getattr(locked, name)] for name in changes if before[name] != getattr(locked, name)}
    if diff:
        _audit(AuditAction.UPDATE, locked, request, diff)
    _forget_subscriptions(locked.client_id)
    return locked


@transaction.atomic
def delete_endpoint(*, endpoint, request=None):
    _audit(AuditAction.DELETE, endpoint, request, {"url": endpoint.url})
    endpoint.delete()
    _forget_subscriptions(endpoint.client_id)


@transaction.atomic
def rotate_secret(*, endpoint, request=None):
    """A new secret; the current one becomes the previous and keeps signing for WEBHOOKS_SECRET_OVERLAP_SECONDS,
    so receivers can switch without missing a delivery. Returns (endpoint, new secret)."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = _new_secret()
    locked.previous_secret_encrypted = locked.secret_encrypted
    locked.previous_secret_expires_at = timezone.now() + timedelta(seconds=settings.WEBHOOKS_SECRET_OVERLAP_SECONDS)
    _set_secret(locked, secret)
    locked.save(update_fields=["secret_encrypted", "secret_last4", "previous_secret_encrypted",
                               "previous_secret_expires_at", "updated_at"])
    _audit(AuditAction.UPDATE, locked, request, {"secret": "rotated",
                                                 "previous_valid_until": locked.previous_secret_expires_at.isoformat()})
    return locked, secret


# --- Publishing (the outbox) ------------------------------------------------------------------------

def _subscribed_types(client_id):
    """Event types some enabled endpoint of the client takes, cached in Redis (cleared when an endpoint changes,
    and kept a minute at most); None when the cache cannot say."""
    key = _subscriptions_key(client_id)
    try:
        types = cache.get(key)
        if types is None:
            rows = WebhookEndpoint.objects.filter(client_id=client_id, is_enabled=True).values_list("event_types",
                                                                                                 flat=True)
            types = sorted({event_type for row in rows for event_type in row})
            cache.set(key, types, settings.WEBHOOKS_SUBSCRIPTIONS_CACHE_SECONDS)
        return types
    except (ConnectionInterrupted, RedisError):
        return None


PUBLISH_SQL = f"""
INSERT INTO webhook_messages (uuid, client_id, endpoint_id, event_type, event_id, body, status, attempts,
                              next_attempt_at, queued_at, replay_requested, last_error, created_at)
SELECT gen_random_uuid(), e.client_id, e.id, %(type)s::varchar, %(event)s, %(body)s, {PENDING}, 0, %(now)s, NULL, false,
       '', %(now)s
FROM webhook_endpoints e
WHERE e.client_id = %(client)s AND e.is_enabled AND %(type)s::varchar = ANY(e.event_types)
RETURNING id
"""


def publish(*, client_id, event_type, data, occurred_at=None):
    """Writes one message per enabled endpoint of the client subscribed to `event_type`, in the caller's
    transaction, and wakes the dispatch run once it commits. Returns the message ids.

    The body is {"id": "evt_…", "type": event_type, "timestamp": occurred_at (default now), "data": data}. With
    no subscriber it costs one Redis read (one query when the cache misses or is down)."""
    event_type = EventType(event_type)
    types = _subscribed_types(client_id)
    if types is not None and event_type not in types:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    body = json.dumps({"id": f"evt_{event_id.hex}", "type": event_type.value,
                       "timestamp": (occurred_at or now).isoformat(), "data": data},
                      cls=DjangoJSONEncoder, separators=(",", ":"))
    with prepared_cursor() as cursor:
        cursor.execute(PUBLISH_SQL, {"type": event_type.value, "event": event_id, "body": body, "now": now,
                                     "client": client_id})
        message_ids = [message_id for (message_id,) in cursor.fetchall()]
    if message_ids:
        after_commit(schedule_dispatch)
    return message_ids


def schedule_dispatch():
    """One dispatch run queued at a time for a burst of events, instead of a task published per event: a hot path
    (a redemption) pays one Redis write. A message committed after the run released the key queues the next run."""
    from .tasks import DISPATCH_SCHEDULED_KEY, dispatch_messages

    queue_once(dispatch_messages, DISPATCH_SCHEDULED_KEY, timeout=DISPATCH_SCHEDULED_TIMEOUT)


def _queue(message_ids, countdown=None):
    from .tasks import deliver_message  # tasks call the services

    for message_id in message_ids:
        deliver_message.apply_async((message_id,), countdown=countdown)


# --- Delivery -----------------------------------------------------------------------------------

def _claim(message_id, now):
    """The message, now delivering under a lease, with its endpoint; None when it is not to be sent now (not
    pending or not due: a duplicate task; its endpoint disabled: it fails; its endpoint at its in-flight cap)."""
    endpoint_id = WebhookMessage.objects.filter(pk=message_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is None:
        return None
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        message = WebhookMessage.objects.select_for_update().get(pk=message_id)
        if message.status != MessageStatus.PENDING or message.next_attempt_at > now:
            return None
        if not endpoint.is_enabled:
            message.status, message.last_error, message.queued_at = (
                MessageStatus.FAILED, "Not sent: the endpoint is disabled.", None)
            message.save(update_fields=["status", "last_error", "queued_at"])
            return None
        in_flight = WebhookMessage.objects.filter(endpoint_id=endpoint_id, status=MessageStatus.DELIVERING,
                                                  lease_expires_at__gt=now).count()
        if in_flight >= settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT:
            message.queued_at = None  # the endpoint's next finished delivery queues it
            message.save(update_fields=["queued_at"])
            return None
        message.status, message.queued_at = MessageStatus.DELIVERING, None
        message.lease_expires_at = now + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
        if not message.replay_requested:
            message.attempts += 1
        message.save(update_fields=["status", "queued_at", "lease_expires_at", "attempts"])
    return message, endpoint


def deliver(*, message_id):
    """One attempt at delivering the message, if it is due and its endpoint has room; returns the attempt's
    WebhookDelivery, or None when no attempt was made."""
    now = timezone.now()
    claimed = _claim(message_id, now)
    if claimed is None:
        return None
    message, endpoint = claimed
    outcome = delivery.post(endpoint.url, body=message.body,
                            headers=signed_headers(message, signing_secrets(endpoint, now), now))
    return _record(message, outcome, attempted_at=now)


def _record(message, outcome, *, attempted_at):
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
        current = WebhookMessage.objects.select_for_update().get(pk=message.pk)
        attempt = WebhookDelivery.objects.create(
            message=current, attempted_at=attempted_at, succeeded=outcome.succeeded,
            status_code=outcome.status_code, latency_ms=outcome.latency_ms,
            response_snippet=outcome.snippet[:500], error=outcome.error[:500], is_replay=message.replay_requested)
        _count_on_endpoint(endpoint, outcome.succeeded, attempted_at)
        if current.status != MessageStatus.DELIVERING or current.lease_expires_at != message.lease_expires_at:
            return attempt  # given up for dead by the sweeper meanwhile: the attempt is logged, the state is not ours
        current.lease_expires_at, current.replay_requested = None, False
        current.last_status_code, current.last_error = outcome.status_code, outcome.error[:500]
        countdown = None
        if outcome.succeeded:
            current.status, current.delivered_at = MessageStatus.DELIVERED, attempted_at
        elif message.replay_requested:
            current.status = MessageStatus.DELIVERED if current.delivered_at else MessageStatus.FAILED
        elif (delay := retry_delay(current.attempts)) is None:
            current.status = MessageStatus.FAILED
        else:
            current.status, current.next_attempt_at = MessageStatus.PENDING, attempted_at + timedelta(seconds=delay)
            if delay <= COUNTDOWN_MAX_SECONDS:
                current.queued_at, countdown = current.next_attempt_at, delay
        current.save(update_fields=["lease_expires_at", "replay_requested", "last_status_code", "last_error",
                                    "status", "delivered_at", "next_attempt_at", "queued_at"])
        if countdown is not None:
            after_commit(lambda: _queue([current.pk], countdown=countdown))
        _queue_next_of(endpoint.pk)  # the slot this attempt frees goes to a message its cap held back
    return attempt


def _count_on_endpoint(endpoint, succeeded, at):
    """The failure streak of the locked endpoint. It is disabled (and its admins told) after
    WEBHOOKS_DISABLE_AFTER_FAILURES failed attempts in a row spanning more than WEBHOOKS_DISABLE_AFTER_SECONDS:
    a single message's last attempt qualifies, a burst of failures within a day does not."""
    if succeeded:
        if endpoint.consecutive_failures:
            endpoint.consecutive_failures, endpoint.failing_since = 0, None
            endpoint.save(update_fields=["consecutive_failures", "failing_since"])
        return
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or at
    fields = ["consecutive_failures", "failing_since"]
    if endpoint.is_enabled and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES and (
            at - endpoint.failing_since > timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER_SECONDS)):
        endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at = False, DisabledReason.FAILING, at
        fields += ["is_enabled", "disabled_reason", "disabled_at"]
        _audit(AuditAction.TRANSITION, endpoint, None,
               {"is_enabled": [True, False], "reason": f"{endpoint.consecutive_failures} failed attempts in a row"})
        _forget_subscriptions(endpoint.client_id)
        from .tasks import notify_endpoint_disabled

        after_commit(lambda: notify_endpoint_disabled.delay(endpoint.pk))
    endpoint.save(update_fields=fields)


# The endpoint's due messages that no task is on its way for (held back by its in-flight cap).
NEXT_OF_ENDPOINT_SQL = f"""
UPDATE webhook_messages SET queued_at = %(now)s
WHERE id IN (SELECT id FROM webhook_messages
             WHERE endpoint_id = %(endpoint)s AND status = {PENDING} AND next_attempt_at <= %(now)s
                   AND queued_at IS NULL
             ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def _queue_next_of(endpoint_id):
    """In the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(NEXT_OF_ENDPOINT_SQL, {"endpoint": endpoint_id, "now": timezone.now(), "limit": 1})
        message_ids = [message_id for (message_id,) in cursor.fetchall()]
    if message_ids:
        after_commit(lambda: _queue(message_ids))


@transaction.atomic
def replay(*, message, request=None):
    """Sends the message again now, as one more attempt (logged as a replay), whatever became of it. A pending
    message is simply made due now."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
    locked = WebhookMessage.objects.select_for_update().get(pk=message.pk)
    if not endpoint.is_enabled:
        raise EndpointDisabled()
    if locked.status == MessageStatus.DELIVERING:
        raise MessageInFlight()
    now = timezone.now()
    if locked.status != MessageStatus.PENDING:
        locked.status, locked.replay_requested = MessageStatus.PENDING, True
    locked.next_attempt_at, locked.queued_at = now, now
    locked.save(update_fields=["status", "replay_requested", "next_attempt_at", "queued_at"])
    _audit(AuditAction.UPDATE, endpoint, request, {"replayed_message": locked.webhook_id})
    after_commit(lambda: _queue([locked.pk]))
    return locked


# --- The sweeper ----------------------------------------------------------------------------------

# Deliveries whose worker died (lease expired): pending again, due now, no task on its way.
RELEASE_EXPIRED_SQL = f"""
UPDATE webhook_messages SET status = {PENDING}, lease_expires_at = NULL, queued_at = NULL, next_attempt_at = %(now)s,
       last_error = 'The attempt did not finish (its worker stopped); sent again.'
WHERE id IN (SELECT id FROM webhook_messages WHERE status = {DELIVERING} AND lease_expires_at < %(now)s
             ORDER BY id LIMIT %(chunk)s FOR UPDATE SKIP LOCKED)
"""
# Due messages whose task never came (lost with the broker) or that wait for room on their endpoint: at most the
# endpoint's in-flight cap of them per endpoint, so a dead endpoint's backlog does not flood the queue.
QUEUE_DUE_SQL = f"""
UPDATE webhook_messages SET queued_at = %(now)s
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS n
        FROM webhook_messages
        WHERE status = {PENDING} AND next_attempt_at <= %(now)s AND (queued_at IS NULL OR queued_at < %(late)s)
    ) due WHERE n <= %(cap)s ORDER BY id LIMIT %(chunk)s
) AND status = {PENDING}
RETURNING id
"""


def requeue_after_seconds():
    """How long a queued message may wait for its task before it is queued again: longer while delivery messages
    wait in the broker, where a late task is more likely waiting its turn than lost."""
    queue = queue_of(_deliver_task())
    if message_counts([queue])[queue]:
        return settings.WEBHOOKS_REQUEUE_BACKLOGGED_SECONDS
    return settings.WEBHOOKS_REQUEUE_SECONDS


def _deliver_task():
    from .tasks import deliver_message

    return deliver_message


def sweep(*, now=None):
    """At-least-once after a crash: releases deliveries whose lease expired and queues due messages no task is
    on its way for. Returns {"released": n, "queued": n}."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RELEASE_EXPIRED_SQL, {"now": now, "chunk": SWEEP_CHUNK})
        released = cursor.rowcount
    queued = _queue_due(now, late=now - timedelta(seconds=requeue_after_seconds()))
    return {"released": released, "queued": queued}


def dispatch(*, now=None):
    """Queues a delivery task for each due message no task is on its way for (at most each endpoint's in-flight
    cap); returns how many. What the dispatch run does after publishes commit."""
    return _queue_due(now or timezone.now(), late=NEVER)


def _queue_due(now, *, late):
    """Queues the due messages whose task has not come since `late` (NULL: none was queued), chunk by chunk."""
    queued = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(QUEUE_DUE_SQL, {"now": now, "late": late, "chunk": SWEEP_CHUNK,
                                           "cap": settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT})
            message_ids = sorted(message_id for (message_id,) in cursor.fetchall())
            if message_ids:
                after_commit(lambda ids=message_ids: _queue(ids))
        queued += len(message_ids)
        if len(message_ids) < SWEEP_CHUNK:
            return queued


# --- Retention ----------------------------------------------------------------------------------

# Delivered and failed messages older than the cutoff, with their attempts: a batch in one statement. A message
# being replayed is locked, or pending again by the time the batch reads it, and stays.
PURGE_FINISHED_SQL = f"""
WITH batch AS (
    SELECT id FROM webhook_messages WHERE created_at < %(cutoff)s AND status IN ({DELIVERED}, {FAILED})
    ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), messages AS (
    DELETE FROM webhook_messages WHERE id IN (SELECT id FROM batch) RETURNING id
), attempts AS (
    DELETE FROM webhook_deliveries WHERE message_id IN (SELECT id FROM messages) RETURNING 1
)
SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM attempts)
"""


def finished_messages_before(cutoff):
    return WebhookMessage.objects.filter(
        created_at__lt=cutoff, status__in=[MessageStatus.DELIVERED, MessageStatus.FAILED])


def purge_finished_messages(*, cutoff, limit):
    """Deletes up to `limit` delivered or failed messages created before `cutoff`, and their delivery log;
    returns (messages, attempts) deleted. Pending and delivering ones still owe their endpoint a delivery."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PURGE_FINISHED_SQL, {"cutoff": cutoff, "limit": limit})
        return cursor.fetchone()
