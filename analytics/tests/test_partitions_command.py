from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analytics.partitions import ensure_partitions, list_partitions

from .test_partitions import months

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("partitions", *args, stdout=out)
    return out.getvalue()


def test_list_prints_a_table_of_partitions(unpartitioned):
    ensure_partitions(months_back=1, months_ahead=0, today=date(2027, 1, 15))

    assert run("list").splitlines() == [
        "name            from        to          rows (estimate)",
        "events_2026_12  2026-12-01  2027-01-01                0",
        "events_2027_01  2027-01-01  2027-02-01                0",
    ]


def test_list_says_when_there_is_no_partition(unpartitioned):
    assert run("list") == "The events table has no partitions.\n"


def test_ensure_creates_the_retention_window_and_reports_what_it_created(unpartitioned, time_machine):
    time_machine.move_to(datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC))
    output = run("ensure")

    window = months(date(2025, 3, 1), date(2027, 6, 1))
    assert [line for line in output.splitlines() if line.startswith("Created events_")] == [
        f"Created {name}." for name in window]
    assert "Created 28 partition(s); every month from 2025-03 to 2027-06 is partitioned." in output
    assert [partition.name for partition in list_partitions()] == window
    assert "Created 0 partition(s)" in run("ensure")


def test_ensure_takes_the_months_back_and_ahead(unpartitioned, time_machine):
    time_machine.move_to(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    output = run("ensure", "--months-back", "1", "--months-ahead", "1")

    assert output.splitlines() == [
        "Created events_2026_11.", "Created events_2026_12.", "Created events_2027_01.",
        "Created 3 partition(s); every month from 2026-11 to 2027-01 is partitioned.",
    ]


def test_drop_dry_run_then_drop():
    ensure_partitions(months_back=0, months_ahead=1, today=date(2020, 1, 1))

    preview = run("drop", "--before", "2020-02-01", "--dry-run")
    assert preview.splitlines() == [
        "Would drop events_2020_01.",
        "Would drop 1 partition(s) ending on or before 2020-02-01.",
    ]
    assert "events_2020_01" in [partition.name for partition in list_partitions()]

    assert "Dropped events_2020_01." in run("drop", "--before", "2020-02-01")
    assert "events_2020_01" not in [partition.name for partition in list_partitions()]
    assert run("drop", "--before", "2020-02-01") == "No partition ends on or before 2020-02-01; nothing to drop.\n"


def test_errors_are_command_errors(time_machine):
    time_machine.move_to(datetime(2027, 3, 1, 0, 0, 30, tzinfo=UTC))
    with pytest.raises(CommandError, match="in the future"):
        run("drop", "--before", "2999-01-01")
    with pytest.raises(CommandError, match="negative"):
        run("ensure", "--months-ahead", "-1")
    with pytest.raises(CommandError, match="2025-02 is older than the events retention keeps"):
        run("ensure", "--months-back", "25")
