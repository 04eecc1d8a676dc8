"""Daily rollups: applying queued batches, rebuilding from raw events, and the cache version readers key on.

`record_event` keeps the rollups current as each event arrives. An API batch is stored at once but counted
a moment later: the statement that stores it also queues it (one row, see ingest.STORE_SQL) and
`apply_pending_rollups` counts it in a Celery task, which keeps the rollup upserts off the integrator's
request. `rebuild_rollups` recomputes the rollups from the events themselves for any range (after a bulk
load, a fix, or to check them).
"""

import logging
from datetime import UTC, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection, transaction

from mobul.celery import queue_once

from .choices import STAGES_BY_EVENT_TYPE

logger = logging.getLogger(__name__)

# A fixed key no other advisory lock uses: "rollup" in ASCII. Rebuilds and queue appliers take turns on it,
# so two of them never upsert the same rollup rows in different orders (a deadlock).
REBUILD_LOCK_KEY = 0x726F6C6C7570
# Queued batches counted per transaction: 50 batches of up to 1,000 events.
APPLY_CHUNK = 50
APPLY_SCHEDULED_KEY = "analytics:rollups:apply-scheduled"
# A lost publish delays counting by at most this long: then the next batch schedules a run again.
APPLY_SCHEDULED_TIMEOUT = 60
VERSION_TIMEOUT = 7 * 24 * 3600


def _version_key(campaign_id):
    return f"analytics:campaign:{campaign_id}:version"


def campaign_version(campaign_id):
    """A number that changes whenever the campaign's rollups change: part of every analytics cache key."""
    return cache.get_or_set(_version_key(campaign_id), 1, VERSION_TIMEOUT)


def bump_campaign_version(campaign_id):
    try:
        cache.incr(_version_key(campaign_id))
    except ValueError:
        cache.set(_version_key(campaign_id), 2, VERSION_TIMEOUT)
    except Exception:
        # The event is committed; a stale cached answer only lives until its short timeout.
        logger.warning("could not invalidate analytics cache of campaign %s", campaign_id, exc_info=True)


# Built from our own constants, never from input, so inlining it as a literal is safe.
STAGE_MAP = "(VALUES {}) AS stage_map(event_type, stage)".format(", ".join(
    f"('{event_type}', '{stage}')" for event_type, stages in STAGES_BY_EVENT_TYPE.items() for stage in stages
))


def rollup_sql(ctes, result="count(*)"):
    """One statement that applies the events of the CTE `batch` to the rollups.

    `ctes` must define `batch(created_at, campaign_id, recipient_id, event_type, ...)`: a VALUES list,
    an unnest of arrays, or the INSERT ... RETURNING that wrote the events. Grouping first means no row is
    upserted twice by one statement, which PostgreSQL refuses.
    """
    return f"""
WITH {ctes}, firsts AS (
    INSERT INTO recipient_stages (recipient_id, stage, campaign_id, first_at)
    SELECT DISTINCT ON (batch.recipient_id, stage_map.stage)
           batch.recipient_id, stage_map.stage, batch.campaign_id, batch.created_at
    FROM batch JOIN {STAGE_MAP} USING (event_type)
    WHERE batch.recipient_id IS NOT NULL
    ORDER BY batch.recipient_id, stage_map.stage, batch.created_at
    ON CONFLICT DO NOTHING
    RETURNING campaign_id, stage, first_at
), funnel AS (
    INSERT INTO campaign_daily_funnel AS f (campaign_id, day, stage, recipients)
    SELECT campaign_id, (first_at AT TIME ZONE 'UTC')::date, stage, count(*) FROM firsts GROUP BY 1, 2, 3
    ON CONFLICT (campaign_id, day, stage) DO UPDATE SET recipients = f.recipients + EXCLUDED.recipients
), stats AS (
    INSERT INTO campaign_daily_stats AS s (campaign_id, day, event_type, events)
    SELECT campaign_id, (created_at AT TIME ZONE 'UTC')::date, event_type, count(*) FROM batch GROUP BY 1, 2, 3
    ON CONFLICT (campaign_id, day, event_type) DO UPDATE SET events = s.events + EXCLUDED.events
)
SELECT {result} FROM batch
"""


APPLY_QUEUED_SQL = rollup_sql(
    "taken AS ("
    " DELETE FROM event_rollup_queue WHERE id IN ("
    "  SELECT id FROM event_rollup_queue ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING created_at, campaign_id, recipient_id, event_type"
    "), batch (created_at, campaign_id, recipient_id, event_type) AS ("
    " SELECT e.* FROM taken, unnest(taken.created_at, taken.campaign_id, taken.recipient_id, taken.event_type) AS e)",
    result="count(*), coalesce(array_agg(DISTINCT campaign_id), '{}')",
)


def schedule_rollups():
    """One queued run at a time: batches committed while it waits are counted by it (see the task)."""
    from .tasks import apply_rollups  # the task module imports this one

    queue_once(apply_rollups, APPLY_SCHEDULED_KEY, timeout=APPLY_SCHEDULED_TIMEOUT)


def apply_pending_rollups():
    """Counts every queued batch into the rollups and removes it, a chunk per transaction; returns the events
    counted. A batch is deleted in the statement that counts it, so it is counted exactly once."""
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REBUILD_LOCK_KEY])
            cursor.execute(APPLY_QUEUED_SQL, [APPLY_CHUNK])
            counted, campaign_ids = cursor.fetchone()
            for campaign_id in campaign_ids:
                transaction.on_commit(lambda campaign_id=campaign_id: bump_campaign_version(campaign_id))
        total += counted
        if not counted:
            return total


def _bounds(start, end):
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


@transaction.atomic
def rebuild_rollups(*, start, end, campaign_ids=None):
    """Recomputes the daily rollups of days `start`..`end` (UTC, inclusive) from raw events.

    Funnel stages count a recipient on the first day they ever reached the stage, so the first-stage
    records of the campaigns involved are recomputed from all their events, then the range is refilled.
    Returns the campaign ids that were rebuilt.
    """
    since, until = _bounds(start, end)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REBUILD_LOCK_KEY])
        if campaign_ids is None:
            cursor.execute(
                "SELECT DISTINCT campaign_id FROM events WHERE created_at >= %s AND created_at < %s"
                " UNION SELECT campaign_id FROM campaign_daily_stats WHERE day BETWEEN %s AND %s",
                [since, until, start, end],
            )
            campaign_ids = [row[0] for row in cursor.fetchall()]
        campaign_ids = sorted(set(campaign_ids))
        if not campaign_ids:
            return []
        in_range = {"ids": campaign_ids, "since": since, "until": until, "start": start, "end": end}
        cursor.execute(
            "DELETE FROM campaign_daily_stats WHERE campaign_id = ANY(%(ids)s) AND day BETWEEN %(start)s AND %(end)s",
            in_range,
        )
        cursor.execute(
            "INSERT INTO campaign_daily_stats (campaign_id, day, event_type, events)"
            " SELECT campaign_id, (created_at AT TIME ZONE 'UTC')::date, event_type, count(*) FROM events"
            " WHERE campaign_id = ANY(%(ids)s) AND created_at >= %(since)s AND created_at < %(until)s"
            " GROUP BY 1, 2, 3",
            in_range,
        )
        cursor.execute("DELETE FROM recipient_stages WHERE campaign_id = ANY(%s)", [campaign_ids])
        cursor.execute(
            "INSERT INTO recipient_stages (recipient_id, stage, campaign_id, first_at)"
            " SELECT e.recipient_id, stage_map.stage, min(e.campaign_id), min(e.created_at)"
            f" FROM events e JOIN {STAGE_MAP} USING (event_type)"
            " WHERE e.campaign_id = ANY(%s) AND e.recipient_id IS NOT NULL GROUP BY 1, 2",
            [campaign_ids],
        )
        cursor.execute(
            "DELETE FROM campaign_daily_funnel WHERE campaign_id = ANY(%(ids)s) AND day BETWEEN %(start)s AND %(end)s",
            in_range,
        )
        cursor.execute(
            "INSERT INTO campaign_daily_funnel (campaign_id, day, stage, recipients)"
            " SELECT campaign_id, (first_at AT TIME ZONE 'UTC')::date, stage, count(*) FROM recipient_stages"
            " WHERE campaign_id = ANY(%(ids)s) AND first_at >= %(since)s AND first_at < %(until)s GROUP BY 1, 2, 3",
            in_range,
        )
    for campaign_id in campaign_ids:
        transaction.on_commit(lambda campaign_id=campaign_id: bump_campaign_version(campaign_id))
    return campaign_ids
