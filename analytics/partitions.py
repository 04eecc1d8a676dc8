"""The monthly partitions of `events` (`events_YYYY_MM`, bounds at midnight UTC on the 1st).

Old events leave by dropping whole partitions, never by DELETE: a drop is instant and leaves nothing to
vacuum. `ensure_partitions` and `drop_partitions_before` serialise on one transaction-level advisory lock,
so overlapping runs (the daily task, a deploy's migrate, someone at a shell) wait for each other and the
later one finds the work done instead of racing on CREATE TABLE.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from .exceptions import CutoffInFuture

TABLE = "events"
# A fixed key no other advisory lock uses: "events" in ASCII.
LOCK_KEY = 0x6576656E7473
BOUNDS = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime
    # The planner's estimate (pg_class.reltuples), not a count: counting would scan the partition.
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
        cursor.execute(f"SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples {PARTITIONS_FROM}")
        rows = cursor.fetchall()
    # reltuples is -1 until the partition is first vacuumed or analysed.
    partitions = [
        Partition(name, *_bounds(name, bound), max(int(reltuples), 0)) for name, bound, reltuples in rows
    ]
    return sorted(partitions, key=lambda partition: partition.start)


def ensure_partitions(*, months_ahead=3, today=None, using=DEFAULT_DB_ALIAS):
    """Makes sure the month of `today` (default: today in UTC) and the `months_ahead` after it have a
    partition. Returns the names it created."""
    if months_ahead < 0:
        raise ValueError("months_ahead cannot be negative.")
    first = month_start(today or timezone.now().date())
    connection = connections[using]
    quote = connection.ops.quote_name
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        _lock(cursor)
        existing = {partition.name for partition in list_partitions(using=using)}
        for offset in range(months_ahead + 1):
            start = add_months(first, offset)
            name = partition_name(start)
            if name in existing:
                continue
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {quote(name)} PARTITION OF {quote(TABLE)} "
                f"FOR VALUES FROM ('{_utc_midnight(start)}') TO ('{_utc_midnight(add_months(start, 1))}')"
            )
            created.append(name)
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
