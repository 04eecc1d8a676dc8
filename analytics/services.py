import json
from datetime import UTC

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mobul.db import prepared_cursor

from .choices import CUSTOM_EVENT_TYPE, EVENT_SOURCES, EVENT_TYPES
from .exceptions import InvalidEventSource, InvalidEventType, MissingPartition
from .models import Event
from .rollups import bump_campaign_version, rollup_sql, schedule_rollups

CHECK_VIOLATION = "23514"

# One statement, one round trip: the event, the recipient's first time at each funnel stage and both
# daily rollups move together, so dashboards never drift from the events they summarise.
RECORD_SQL = rollup_sql(
    "batch AS (INSERT INTO events (created_at, campaign_id, recipient_id, event_type, source, payload)"
    " VALUES (%(at)s, %(campaign)s, %(recipient)s, %(type)s, %(source)s, %(payload)s)"
    " RETURNING id, created_at, campaign_id, recipient_id, event_type)",
    result="id",
)
# For the busiest paths: the event and a rollup queue row, both new rows, so concurrent requests never wait on
# each other's rollup row locks; the rollups count it a moment later (rollups.apply_pending_rollups).
RECORD_COUNT_LATER_SQL = (
    "WITH batch AS (INSERT INTO events (created_at, campaign_id, recipient_id, event_type, source, payload)"
    " VALUES (%(at)s, %(campaign)s, %(recipient)s, %(type)s, %(source)s, %(payload)s)"
    " RETURNING id, created_at, campaign_id, recipient_id, event_type),"
    " queued AS (INSERT INTO event_rollup_queue (created_at, campaign_id, recipient_id, event_type)"
    " SELECT ARRAY[created_at], ARRAY[campaign_id], ARRAY[recipient_id], ARRAY[event_type] FROM batch)"
    " SELECT id FROM batch"
)


def validate_event_type(event_type):
    if not isinstance(event_type, str) or not (
        event_type in EVENT_TYPES or CUSTOM_EVENT_TYPE.fullmatch(event_type)
    ):
        raise InvalidEventType(event_type)


def validate_source(source):
    if not isinstance(source, str) or source not in EVENT_SOURCES:
        raise InvalidEventSource(source)


def missing_partition_from(error, created_at):
    """MissingPartition when `error` is PostgreSQL's "no partition for this row", else None.

    Matched on codes, not the message, which the server may translate: a check violation that
    names no constraint.
    """
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) == CHECK_VIOLATION and cause.diag.constraint_name is None:
        return MissingPartition(f"{created_at.astimezone(UTC):%Y-%m}")
    return None


def record_event(*, event_type, source, campaign=None, campaign_id=None, recipient_id=None, payload=None,
                 occurred_at=None, count_later=False):
    """Records one event and updates the daily rollups, in a single statement: cheap enough for hot paths.

    Pass the campaign or its id. `occurred_at` is when it happened (default: now); it decides the partition.
    `count_later` queues the rollup update instead, for paths where many requests record the same kind of
    event for one campaign at once (PURL views, redemptions): they would otherwise queue on its rollup row.
    A month without a partition raises MissingPartition; like any failed statement, that also aborts the
    surrounding transaction.
    """
    if (campaign is None) == (campaign_id is None):
        raise TypeError("record_event() takes exactly one of campaign and campaign_id.")
    validate_event_type(event_type)
    validate_source(source)
    campaign_id = campaign.pk if campaign is not None else campaign_id
    created_at = occurred_at or timezone.now()
    payload = payload or {}
    params = {
        "at": created_at, "campaign": campaign_id, "recipient": recipient_id, "type": event_type,
        "source": source, "payload": json.dumps(payload),
    }
    try:
        with prepared_cursor() as cursor:
            cursor.execute(RECORD_COUNT_LATER_SQL if count_later else RECORD_SQL, params)
            (event_id,) = cursor.fetchone()
    except IntegrityError as error:
        missing = missing_partition_from(error, created_at)
        if missing is None:
            raise
        raise missing from error
    # Robust: the event is committed, and the minutely apply_rollups makes up for a wake-up lost with Redis.
    transaction.on_commit(schedule_rollups if count_later else lambda: bump_campaign_version(campaign_id), robust=True)
    return Event(id=event_id, created_at=created_at, campaign_id=campaign_id, recipient_id=recipient_id,
                 event_type=event_type, source=source, payload=payload)


def record_recipient_events(*, recipients_sql, params, campaign_id, event_type, source, occurred_at=None):
    """One event per recipient id that `recipients_sql` yields (as column `id`), with rollups, in one statement.

    For events that happen to a whole mailing at once (a million `mail_sent`): set-based, never row by row.
    `recipients_sql` may be a data-modifying statement with RETURNING id. Returns how many were recorded.
    """
    validate_event_type(event_type)
    validate_source(source)
    created_at = occurred_at or timezone.now()
    statement = rollup_sql(
        f"recipients AS ({recipients_sql}), batch AS ("
        "INSERT INTO events (created_at, campaign_id, recipient_id, event_type, source, payload)"
        " SELECT %(_at)s, %(_campaign)s, id, %(_type)s, %(_source)s, '{}' FROM recipients"
        " RETURNING created_at, campaign_id, recipient_id, event_type)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, {**params, "_at": created_at, "_campaign": campaign_id, "_type": event_type,
                                   "_source": source})
        (recorded,) = cursor.fetchone()
    if recorded:
        transaction.on_commit(lambda: bump_campaign_version(campaign_id))
    return recorded
