"""What the monitoring page, the alerts and /metrics read: PostgreSQL statistics (through the database alias
settings.MONITORING_DATABASE), Redis, the Celery broker's queues, request latency (latency.py) and gift-card
stock. Every reader is one or two cheap catalogue or statistics queries; none scans a table."""

from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from giftcards.models import GiftCardPool
from giftcards.selectors import is_low, with_stock
from mobul.celery import app as celery_app, message_counts
from mobul.db import ROWS_ESTIMATE_SQL, TABLE_LEAVES_SQL

from .models import DatabaseSizeSnapshot

SLOW_QUERY_LIMIT = 20
TABLE_LIMIT = 30
ENABLE_PG_STAT_STATEMENTS = (
    "pg_stat_statements is not enabled on this PostgreSQL server. To see the slowest queries:\n"
    "1. add it to shared_preload_libraries in postgresql.conf (or: ALTER SYSTEM SET shared_preload_libraries = "
    "'pg_stat_statements';) and restart PostgreSQL;\n"
    "2. in this database, run: CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n"
    "On a managed service (RDS, Cloud SQL, Azure) set the same parameter in its parameter group or flags."
)


def _cursor():
    return connections[settings.MONITORING_DATABASE].cursor()


def _rows(sql, params=()):
    with _cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# --- PostgreSQL ----------------------------------------------------------------------------------

@dataclass
class SlowQueries:
    rows: list
    unavailable: str = ""  # why there are no rows: how to enable pg_stat_statements


def slow_queries(limit=SLOW_QUERY_LIMIT):
    """The `limit` statements with the highest mean time, or how to enable pg_stat_statements."""
    alias = settings.MONITORING_DATABASE
    with _cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return SlowQueries([], ENABLE_PG_STAT_STATEMENTS)
    try:
        # A savepoint: without the preloaded library the view raises, which must not break a surrounding transaction.
        with transaction.atomic(using=alias):
            rows = _rows(
                "SELECT query, calls, mean_exec_time AS mean_ms, total_exec_time AS total_ms, rows"
                " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " ORDER BY mean_exec_time DESC LIMIT %s",
                [limit],
            )
    except DatabaseError as error:
        return SlowQueries([], f"{ENABLE_PG_STAT_STATEMENTS}\n(PostgreSQL said: {str(error).strip()})")
    return SlowQueries(rows)


def database_size():
    with _cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def snapshot_database_size(*, day=None):
    """Today's size (replacing an earlier snapshot of the same day)."""
    snapshot, _ = DatabaseSizeSnapshot.objects.update_or_create(
        day=day or timezone.now().date(), defaults={"size_bytes": database_size()})
    return snapshot


def size_growth(days=30):
    """Daily snapshots, newest first, each with its growth since the snapshot before it."""
    snapshots = list(DatabaseSizeSnapshot.objects.all()[:days + 1])
    return [
        {"day": snapshot.day, "size_bytes": snapshot.size_bytes,
         "growth_bytes": snapshot.size_bytes - older.size_bytes if older else None}
        for snapshot, older in zip(snapshots, [*snapshots[1:], None])
    ][:days]


def table_sizes(limit=TABLE_LIMIT):
    """The biggest tables, a partitioned one counted with all its partitions (total: data, indexes, TOAST)."""
    return _rows(
        f"""
        SELECT parent.relname AS name,
               parent.relkind = 'p' AS partitioned,
               count(tree.relid) FILTER (WHERE tree.isleaf) AS partitions,
               sum(pg_total_relation_size(c.oid)) AS total_bytes,
               coalesce(sum({ROWS_ESTIMATE_SQL}) FILTER (WHERE c.relkind = 'r'), 0)::bigint AS estimated_rows
        FROM {TABLE_LEAVES_SQL}
        JOIN pg_namespace ns ON ns.oid = parent.relnamespace
        WHERE ns.nspname = current_schema() AND parent.relkind IN ('r', 'p') AND NOT parent.relispartition
        GROUP BY parent.oid, parent.relname, parent.relkind
        ORDER BY total_bytes DESC
        LIMIT %s
        """,
        [limit],
    )


def connection_use():
    """Server connections against max_connections, and this process's pool settings."""
    (row,) = _rows(
        "SELECT (SELECT count(*) FROM pg_stat_activity) AS in_use,"
        " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS this_database,"
        " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active') AS active,"
        " current_setting('max_connections')::int AS max_connections"
    )
    row["percent"] = 100 * row["in_use"] / row["max_connections"]
    row["pgbouncer"] = settings.DATABASE_PGBOUNCER
    row["pool_min"] = None if settings.DATABASE_PGBOUNCER else settings.DATABASE_POOL_MIN_SIZE
    row["pool_max"] = None if settings.DATABASE_PGBOUNCER else settings.DATABASE_POOL_MAX_SIZE
    return row


def database_cache_hit_ratio():
    """Share of block reads served from PostgreSQL's buffer cache since its statistics were reset (percent)."""
    with _cursor() as cursor:
        cursor.execute("SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()")
        hits, reads = cursor.fetchone()
    return 100 * hits / (hits + reads) if hits + reads else None


# --- Redis, Celery, gift cards ----------------------------------------------------------------

def redis_cache_hit_ratio():
    """Share of key lookups that found their key since Redis started (percent); None before any lookup."""
    stats = get_redis_connection("default").info("stats")
    hits, misses = stats.get("keyspace_hits", 0), stats.get("keyspace_misses", 0)
    return 100 * hits / (hits + misses) if hits + misses else None


def queue_names():
    """The queues workers consume: the configured ones, else Celery's default queue."""
    queues = celery_app.conf.task_queues
    names = [queue.name for queue in queues] if queues else []
    return names or [celery_app.conf.task_default_queue]


def queue_lengths():
    """{queue: messages waiting} as the broker reports them."""
    return message_counts(queue_names())


def pool_levels():
    """Every gift-card pool with its stock counts and whether it is below its low-stock threshold."""
    pools = with_stock(GiftCardPool.objects.select_related("client")).order_by("client__name", "name", "pk")
    return [
        {"pool": pool, "available": pool.available, "total": pool.total,
         "percent_left": 100 * pool.available / pool.total if pool.total else None, "low": is_low(pool)}
        for pool in pools
    ]
