"""Cursors for the hot hand-written statements, and the status literals written into them."""

from contextlib import contextmanager
from enum import Enum

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor


def prepared_cursor(using=DEFAULT_DB_ALIAS):
    """A cursor that sends its parameters apart from the statement, so the server can prepare it.

    Django's cursors bind parameters on the client, and PostgreSQL then parses and plans every statement
    anew: for the redemption's CTE that costs as much as running it. With this cursor psycopg prepares a
    statement on a connection after `prepare_threshold` runs (5, settings.database_config), and later runs
    skip parsing and planning.
    Behind PgBouncer (prepare_threshold None, see settings.database_config) nothing is prepared and it
    behaves as a plain cursor. Used as `with prepared_cursor() as cursor:`, like Django's own, and seen by
    Django's query logging and execute wrappers.
    """
    connection = connections[using]
    connection.ensure_connection()
    return connection._prepare_cursor(ServerBindingCursor(connection.connection))


@contextmanager
def pipeline(using=DEFAULT_DB_ALIAS):
    """Statements executed inside go to the server at once, without waiting for their results: the server runs
    them while Python carries on, and fetching a result (or leaving the block) waits for it.

    For a statement whose result is needed only after some Python work that does not depend on it: on two cores
    the two overlap. psycopg's pipeline mode; COPY is not allowed inside.
    """
    connection = connections[using]
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


def sql_literal(choice):
    """A TextChoices member as an SQL string literal, for statuses written into hand-written statements.

    Formatted in rather than bound, so the planner still matches partial indexes on the status. Only enum
    members are accepted: input never gets here."""
    if not isinstance(choice, Enum):
        raise TypeError(f"{choice!r} is not a choices member")
    return "'{}'".format(str(choice.value).replace("'", "''"))



# The rows of one table, estimated from the catalogue (never a COUNT, which reads every row). Over `TABLE_LEAVES_SQL`
# (aliases c: the table, s: its statistics): the rows per page of its last ANALYZE or VACUUM times its pages now, as
# the planner scales them; for a table never analysed (reltuples is -1, or no page was counted), the live rows the
# statistics collector has counted since it was created.
ROWS_ESTIMATE_SQL = """CASE WHEN c.reltuples >= 0 AND c.relpages > 0
    THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
    ELSE coalesce(s.n_live_tup, 0) END"""
# Every table `parent` stands for, one row each as `c`: itself, or for a partitioned table its partitions (leaves, of
# relkind 'r') and itself (relkind 'p', which holds no rows: its own reltuples is the sum of an ANALYZE of the whole
# tree, which summing would count twice).
TABLE_LEAVES_SQL = """pg_class parent
    LEFT JOIN LATERAL pg_partition_tree(parent.oid) tree ON parent.relkind = 'p'
    JOIN pg_class c ON c.oid = coalesce(tree.relid, parent.oid)
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"""


def estimated_rows(table, using=DEFAULT_DB_ALIAS):
    """The rows of `table` (a partitioned one with all its partitions), estimated: see ROWS_ESTIMATE_SQL."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT coalesce(sum({ROWS_ESTIMATE_SQL}), 0)::bigint FROM {TABLE_LEAVES_SQL}"
                       " WHERE parent.oid = %s::regclass AND c.relkind = 'r'", [table])
        return cursor.fetchone()[0]
