"""The monthly partitions of `events` (`events_YYYY_MM`, bounds at midnight UTC on the 1st).

Every month of the events retention window is partitioned, back to the month of the retention cutoff and
ahead, so a late event (a call or a scan reported after the 1st, an integrator's batch of yesterday) has a
place. Old events leave by dropping whole partitions, never by DELETE: a drop is instant and leaves nothing to
vacuum. `ensure_partitions` and `drop_partitions_before` serialise on one transaction-level advisory lock,
so overlapping runs (the daily task, a deploy's migrate, someone at a shell) wait for each other and the
later one finds the work done instead of racing on CREATE TABLE.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from mobul.db import ROWS_ESTIMATE_SQL

from .exceptions import CutoffInFuture, PastRetention

TABLE = "events"
MONTHS_AHEAD = 3
# A fixed key no other advisory lock uses: "events" in ASCII.
LOCK_KEY = 0x6576656E7473
BOUNDS = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime
    # An estimate from the catalogue (mobul.db.ROWS_ESTIMATE_SQL), not a count: counting would scan the partition.
    estimated_rows: int


def month_start(day):
    return date(day.year, day.month, 1)


def add_months(first, months):
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(first):
    return f"{TABLE}_{first:%Y_%m}"


PARTITIONS_FROM = f"FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '{TABLE}'::regclass"
# The name and bounds of every partition, as one array: for a statement that reads them along with other things.
PARTITION_BOUNDS_SQL = f"ARRAY(SELECT ARRAY[c.relname::text, pg_get_expr(c.relpartbound, c.oid)] {PARTITIONS_FROM})"


def partition_window(bounds):
    """(start of the oldest partition, end of the newest) from PARTITION_BOUNDS_SQL's array, or None if empty."""
    ranges = [_bounds(name, bound) for name, bound in bounds]
    return (min(start for start, _ in ranges), max(end for _, end in ranges)) if ranges else None


def list_partitions(*, using=DEFAULT_DB_ALIAS):
    """The partitions of `events`, oldest first. One catalogue read, so it needs no lock."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), ({ROWS_ESTIMATE_SQL})::bigint FROM pg_inherits i"
            f" JOIN pg_class c ON c.oid = i.inhrelid LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
            f" WHERE i.inhparent = '{TABLE}'::regclass")
        rows = cursor.fetchall()
    partitions = [Partition(name, *_bounds(name, bound), estimate) for name, bound, estimate in rows]
    return sorted(partitions, key=lambda partition: partition.start)


def oldest_month_kept(today):
    """The first month the events retention job keeps on `today`. It drops the partitions that end on or before
    today - RETENTION_DAYS["events"] (ops.retention, drop_partitions_before); this month ends after that."""
    return month_start(today - timedelta(days=settings.RETENTION_DAYS["events"]))


def partition_range(*, months_back=None, months_ahead=MONTHS_AHEAD, today=None):
    """(first month, last month) that should have a partition on `today` (default: today in UTC): from
    `months_back` before today's month, by default the oldest month retention keeps, to `months_ahead` after it.

    A month older than retention keeps is refused (PastRetention): the next retention run would drop it again."""
    if months_ahead < 0 or (months_back is not None and months_back < 0):
        raise ValueError("months_back and months_ahead cannot be negative.")
    today = today or timezone.now().date()
    oldest = oldest_month_kept(today)
    first = oldest if months_back is None else add_months(month_start(today), -months_back)
    if first < oldest:
        raise PastRetention(first, oldest, settings.RETENTION_DAYS["events"])
    return first, add_months(month_start(today), months_ahead)


def ensure_partitions(*, months_back=None, months_ahead=MONTHS_AHEAD, today=None, using=DEFAULT_DB_ALIAS):
    """Makes sure every month of partition_range() has a partition, by default the whole retention window and
    the next `months_ahead` months. Returns the names it created."""
    first, last = partition_range(months_back=months_back, months_ahead=months_ahead, today=today)
    connection = connections[using]
    quote = connection.ops.quote_name
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        _lock(cursor)
        existing = {partition.name for partition in list_partitions(using=using)}
        start = first
        while start <= last:
            name = partition_name(start)
            if name not in existing:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {quote(name)} PARTITION OF {quote(TABLE)} "
                    f"FOR VALUES FROM ('{_utc_midnight(start)}') TO ('{_utc_midnight(add_months(start, 1))}')"
                )
                created.append(name)
            start = add_months(start, 1)
    return created


def drop_partitions_before(cutoff, *, dry_run=False, using=DEFAULT_DB_ALIAS):
    """Detaches and drops every partition whose range ends on or before `cutoff` (a date, midnight UTC) and
    returns their names; with `dry_run`, only returns them.

    A partition that reaches past the cutoff is kept whole, so no event younger than the cutoff is lost.
    """
    if cutoff > timezone.now().date():
        # Guards against a typo: a future cutoff would drop the current month and every insert would fail.
        raise CutoffInFuture(f"The cutoff {cutoff:%Y-%m-%d} is in the future; only past months can be dropped.")
    limit = datetime.combine(cutoff, time.min, tzinfo=UTC)
    connection = connections[using]
    quote = connection.ops.quote_name
    with transaction.atomic(using=using), connection.cursor() as cursor:
        _lock(cursor)
        doomed = [partition.name for partition in list_partitions(using=using) if partition.end <= limit]
        if not dry_run:
            for name in doomed:
                cursor.execute(f"ALTER TABLE {quote(TABLE)} DETACH PARTITION {quote(name)}")
                cursor.execute(f"DROP TABLE {quote(name)}")
    return doomed


def _lock(cursor):
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _utc_midnight(day):
    return f"{day.isoformat()} 00:00:00+00"


def _bounds(name, bound):
    match = BOUNDS.fullmatch(bound)
    if match is None:
        # Only monthly range partitions belong here; a DEFAULT one would swallow events of missing months.
        raise ValueError(f"Partition {name} of {TABLE} has unexpected bounds: {bound}")
    return tuple(datetime.fromisoformat(value).astimezone(UTC) for value in match.groups())
