import threading
from datetime import UTC, date, datetime

import pytest
from django.db import connection, connections

from analytics import record_event
from analytics.exceptions import CutoffInFuture, PastRetention
from analytics.models import Event
from analytics.partitions import (
    add_months, drop_partitions_before, ensure_partitions, list_partitions, oldest_month_kept, partition_name,
)
from analytics.tasks import maintain_partitions
from ops.models import RetentionRun
from ops.tasks import run_retention_job

# DDL is transactional in PostgreSQL: partitions a test creates vanish with its rolled-back transaction.
pytestmark = pytest.mark.django_db


def names():
    return [partition.name for partition in list_partitions()]


def months(first, last):
    """The partition names of every month from `first` to `last`."""
    names, month = [], first
    while month <= last:
        names.append(partition_name(month))
        month = add_months(month, 1)
    return names


def test_ensure_partitions_the_retention_window_back_and_three_months_ahead(unpartitioned, time_machine):
    time_machine.move_to(datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC))

    # 730 days before 2027-03-01 is 2025-03-01: retention keeps March 2025 on, and drops February.
    assert ensure_partitions() == months(date(2025, 3, 1), date(2027, 6, 1))
    assert names() == months(date(2025, 3, 1), date(2027, 6, 1))
    assert ensure_partitions() == []


@pytest.mark.parametrize(("today", "oldest"), [
    (date(2027, 3, 1), date(2025, 3, 1)), (date(2027, 2, 28), date(2025, 2, 1)),
    (date(2026, 12, 31), date(2024, 12, 1)), (date(2027, 1, 1), date(2025, 1, 1)),
    # 730 days reach back one day less across a 29 February.
    (date(2028, 2, 29), date(2026, 3, 1)), (date(2028, 2, 28), date(2026, 2, 1)),
])
def test_the_oldest_month_kept_is_the_month_of_the_retention_cutoff(today, oldest):
    assert oldest_month_kept(today) == oldest


def test_the_window_follows_the_events_retention_setting(unpartitioned, settings):
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "events": 90}

    assert ensure_partitions(today=date(2027, 3, 1)) == months(date(2026, 12, 1), date(2027, 6, 1))


def test_ensure_takes_a_range_but_never_a_month_past_retention(unpartitioned):
    today = date(2027, 3, 1)
    with pytest.raises(PastRetention, match="2025-02 is older than the events retention keeps .730 days"):
        ensure_partitions(months_back=25, today=today)
    assert names() == []

    assert ensure_partitions(months_back=1, months_ahead=0, today=today) == ["events_2027_02", "events_2027_03"]
    assert ensure_partitions(months_back=24, months_ahead=1, today=today)[0] == "events_2025_03"


def test_retention_never_drops_what_the_daily_job_creates_nor_the_job_what_retention_dropped(unpartitioned,
                                                                                             time_machine):
    time_machine.move_to(datetime(2027, 2, 28, 2, 0, tzinfo=UTC))
    maintain_partitions.delay()
    run_retention_job.delay(job="events")
    assert names() == months(date(2025, 2, 1), date(2027, 5, 1))

    # The next night the cutoff reaches March 2025: February goes, whichever job runs first, and stays gone.
    time_machine.move_to(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    assert maintain_partitions.delay().get() == ["events_2027_06"]
    run_retention_job.delay(job="events")
    assert maintain_partitions.delay().get() == []
    run_retention_job.delay(job="events")

    assert names() == months(date(2025, 3, 1), date(2027, 6, 1))
    assert [run.counts["names"] for run in RetentionRun.objects.order_by("pk")] == [[], ["events_2025_02"], []]


def test_ensure_creates_this_month_and_the_next_ones_across_the_year_end(unpartitioned):
    created = ensure_partitions(months_back=0, months_ahead=3, today=date(2030, 12, 15))

    assert created == ["events_2030_12", "events_2031_01", "events_2031_02", "events_2031_03"]
    bounds = {partition.name: (partition.start, partition.end) for partition in list_partitions()}
    assert bounds["events_2030_12"] == (datetime(2030, 12, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))
    assert bounds["events_2031_03"] == (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))


def test_ensure_is_idempotent(unpartitioned):
    first = ensure_partitions(months_back=0, months_ahead=2, today=date(2030, 5, 31))
    before = names()

    assert first == ["events_2030_05", "events_2030_06", "events_2030_07"]
    assert ensure_partitions(months_back=0, months_ahead=2, today=date(2030, 5, 1)) == []
    assert ensure_partitions(months_back=0, months_ahead=3, today=date(2030, 5, 1)) == ["events_2030_08"]
    assert names() == sorted(before + ["events_2030_08"])


def test_ensure_refuses_a_negative_horizon():
    with pytest.raises(ValueError, match="negative"):
        ensure_partitions(months_ahead=-1)
    with pytest.raises(ValueError, match="negative"):
        ensure_partitions(months_back=-1)


def test_list_reports_row_estimates_never_below_zero(campaign):
    ensure_partitions(months_back=0, months_ahead=0, today=date(2020, 1, 1))
    for day in (3, 4, 5):
        record_event(event_type="mail_sent", source="mail", campaign=campaign,
                     occurred_at=datetime(2020, 1, day, tzinfo=UTC))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_2020_01")

    estimates = {partition.name: partition.estimated_rows for partition in list_partitions()}
    assert estimates["events_2020_01"] == 3
    assert min(estimates.values()) == 0


def test_drop_removes_only_partitions_that_end_by_the_cutoff(campaign):
    ensure_partitions(months_back=0, months_ahead=2, today=date(2020, 1, 1))
    young = record_event(event_type="purl_viewed", source="purl", campaign=campaign,
                         occurred_at=datetime(2020, 2, 20, tzinfo=UTC))
    old = record_event(event_type="mail_sent", source="mail", campaign=campaign,
                       occurred_at=datetime(2020, 1, 20, tzinfo=UTC))

    # February reaches past the cutoff, so it stays whole.
    assert drop_partitions_before(date(2020, 2, 15)) == ["events_2020_01"]

    assert "events_2020_01" not in names()
    assert {"events_2020_02", "events_2020_03"} <= set(names())
    assert list(Event.objects.filter(campaign=campaign)) == [young]
    assert not Event.objects.filter(pk=old.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('events_2020_01')")
        assert cursor.fetchone() == (None,)

    # A partition ending exactly at the cutoff is wholly older.
    assert drop_partitions_before(date(2020, 3, 1)) == ["events_2020_02"]


def test_drop_dry_run_changes_nothing(campaign):
    ensure_partitions(months_back=0, months_ahead=2, today=date(2020, 1, 1))
    record_event(event_type="mail_sent", source="mail", campaign=campaign, occurred_at=datetime(2020, 1, 2, tzinfo=UTC))
    before = names()

    assert drop_partitions_before(date(2020, 3, 1), dry_run=True) == ["events_2020_01", "events_2020_02"]

    assert names() == before
    assert Event.objects.filter(campaign=campaign).count() == 1


def test_drop_refuses_a_future_cutoff():
    before = names()

    with pytest.raises(CutoffInFuture):
        drop_partitions_before(date(2099, 1, 1))
    assert names() == before


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_wait_for_each_other_and_create_each_partition_once():
    # Committed DDL, so not `unpartitioned`: months after every partition the database has, on any clock.
    today = add_months(list_partitions()[-1].start.date(), 1)
    created = months(today, add_months(today, 2))
    start = threading.Barrier(4)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(ensure_partitions(months_back=0, months_ahead=2, today=today))
        except Exception as exc:  # a thread's exception would otherwise be lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert sorted(results) == [[], [], [], created]
    finally:
        # The flush after this test empties tables but would leave these behind.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(created)}")
