"""The monitoring page's row estimates (ops.monitoring.table_sizes) against real counts, before and after ANALYZE."""

import time
from datetime import UTC, date, datetime

import pytest
from django.db import connection

from analytics.partitions import ensure_partitions, list_partitions
from analytics.services import record_event
from campaigns.models import Campaign
from mobul.db import estimated_rows
from ops import monitoring

pytestmark = pytest.mark.django_db


def counted(table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
        return cursor.fetchone()[0]


def shown(table):
    return {row["name"]: row for row in monitoring.table_sizes(limit=500)}[table]["estimated_rows"]


def events_in_two_months(installed_at, tenant_a, per_month):
    installed_at(datetime(2026, 12, 2, 12, tzinfo=UTC))
    campaign = Campaign.objects.create(client=tenant_a.client, name="Estimates")
    for occurred_at in (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)):
        for _ in range(per_month):
            record_event(event_type="purl_viewed", source="purl", campaign=campaign, occurred_at=occurred_at)


def test_after_analyze_a_partitioned_table_is_its_partitions_counted_once(installed_at, tenant_a):
    events_in_two_months(installed_at, tenant_a, per_month=120)
    with connection.cursor() as cursor:
        # The parent too: its own reltuples then holds the whole tree's rows, which must not be added again.
        cursor.execute("ANALYZE events")
        cursor.execute("ANALYZE campaigns")
    assert counted("events") == 240
    assert shown("events") == estimated_rows("events") == 240
    assert shown("campaigns") == counted("campaigns") == 1
    estimates = {partition.name: partition.estimated_rows for partition in list_partitions()}
    assert (estimates["events_2026_11"], estimates["events_2026_12"]) == (120, 120)


def test_rows_added_since_the_last_analyze_are_counted_by_pages(installed_at, tenant_a):
    events_in_two_months(installed_at, tenant_a, per_month=200)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_2026_11, events_2026_12")
    events_in_two_months(installed_at, tenant_a, per_month=200)  # twice the pages the analysis saw
    assert shown("events") == pytest.approx(counted("events"), rel=0.1)


@pytest.mark.django_db(transaction=True)
def test_a_never_analysed_table_shows_the_rows_the_statistics_counted(tenant_a):
    # A partition of its own, new (reltuples -1), given fewer rows than autovacuum's threshold (50), so no ANALYZE
    # runs meanwhile. Committed rows: the statistics count only those.
    ensure_partitions(months_back=0, months_ahead=0, today=date(2020, 1, 1))
    try:
        campaign = Campaign.objects.create(client=tenant_a.client, name="Estimates")
        for day in range(1, 31):
            record_event(event_type="purl_viewed", source="purl", campaign=campaign,
                         occurred_at=datetime(2020, 1, day, tzinfo=UTC))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, as soon as it is idle
        deadline = time.monotonic() + 10
        while estimated_rows("events_2020_01") != 30 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counted("events_2020_01") == estimated_rows("events_2020_01") == 30
        assert {partition.name: partition.estimated_rows for partition in list_partitions()}["events_2020_01"] == 30
        assert shown("events") >= 30
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE events_2020_01")
