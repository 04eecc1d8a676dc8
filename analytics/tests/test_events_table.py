from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from analytics.partitions import ensure_partitions, list_partitions

from .test_partitions import months

pytestmark = pytest.mark.django_db


def query(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_model_state_matches_the_migrations():
    call_command("makemigrations", "analytics", "--check", "--dry-run", stdout=StringIO())


def test_events_is_partitioned_by_month_on_created_at_with_the_composite_key():
    assert query("SELECT pg_get_partkeydef('events'::regclass)") == [("RANGE (created_at)",)]
    assert query(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'p'"
    ) == [("PRIMARY KEY (id, created_at)",)]
    columns = query(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    assert columns == [
        ("id", "bigint", True),
        ("created_at", "timestamp with time zone", True),
        ("campaign_id", "bigint", True),
        ("recipient_id", "bigint", False),
        ("event_type", "character varying(64)", True),
        ("source", "character varying(16)", True),
        ("payload", "jsonb", True),
    ]


def test_campaign_id_is_a_real_foreign_key():
    assert query(
        "SELECT confrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'events'::regclass AND contype = 'f'"
    ) == [("campaigns", "FOREIGN KEY (campaign_id) REFERENCES campaigns(id)")]


def test_there_is_no_default_partition():
    assert query("SELECT partdefid FROM pg_partitioned_table WHERE partrelid = 'events'::regclass") == [(0,)]


def test_indexes_exist_on_the_parent_and_on_every_partition():
    parent = dict(query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events'"))
    assert parent["idx_events_campaign_type_date"].endswith("(campaign_id, event_type, created_at)")
    assert parent["idx_events_recipient_date"].endswith("(recipient_id, created_at) WHERE (recipient_id IS NOT NULL)")

    partitions = list_partitions()
    assert partitions
    for partition in partitions:
        definitions = "\n".join(row[0] for row in query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", [partition.name]
        ))
        assert "(campaign_id, event_type, created_at)\n" in f"{definitions}\n", partition.name
        assert "(recipient_id, created_at) WHERE (recipient_id IS NOT NULL)" in definitions, partition.name


@pytest.mark.parametrize(("instant", "first", "last"), [
    (datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC), date(2025, 3, 1), date(2027, 6, 1)),
    (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), date(2024, 12, 1), date(2027, 3, 1)),
])
def test_migrating_from_empty_partitions_the_retention_window_and_three_months_ahead(time_machine, instant, first,
                                                                                     last):
    time_machine.move_to(instant)
    # Runs inside the test's transaction, so the database is back as it was afterwards.
    call_command("migrate", "analytics", "zero", stdout=StringIO())
    assert query("SELECT to_regclass('events'), to_regclass('events_id_seq')") == [(None, None)]

    call_command("migrate", "analytics", stdout=StringIO())
    assert [partition.name for partition in list_partitions()] == months(first, last)


def test_migrating_a_database_partitioned_ahead_only_adds_the_months_back(time_machine, unpartitioned):
    time_machine.move_to(datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC))
    call_command("migrate", "analytics", "0007", stdout=StringIO())
    ensure_partitions(months_back=0)  # what 0002 created before the window reached back

    call_command("migrate", "analytics", stdout=StringIO())
    assert [partition.name for partition in list_partitions()] == months(date(2025, 3, 1), date(2027, 6, 1))
