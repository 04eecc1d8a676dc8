from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from analytics.partitions import add_months, ensure_partitions, list_partitions, month_start, partition_name

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("partitions", *args, stdout=out)
    return out.getvalue()


def test_list_prints_a_table_of_partitions():
    lines = run("list").splitlines()

    assert lines[0].split() == ["name", "from", "to", "rows", "(estimate)"]
    first = month_start(timezone.now().date())
    row = next(line.split() for line in lines if line.startswith(partition_name(first)))
    assert row == [partition_name(first), f"{first:%Y-%m-%d}", f"{add_months(first, 1):%Y-%m-%d}", "0"]
    assert len(lines) == 1 + len(list_partitions())


def test_ensure_reports_what_it_created():
    output = run("ensure", "--months-ahead", "5")

    first = month_start(timezone.now().date())
    assert [line for line in output.splitlines() if line.startswith("Created events_")] == [
        f"Created {partition_name(add_months(first, 4))}.", f"Created {partition_name(add_months(first, 5))}."
    ]
    assert "Created 2 partition(s); this month and the next 5 are partitioned." in output
    assert "Created 0 partition(s)" in run("ensure", "--months-ahead", "5")


def test_drop_dry_run_then_drop():
    ensure_partitions(months_ahead=1, today=date(2020, 1, 1))

    preview = run("drop", "--before", "2020-02-01", "--dry-run")
    assert preview.splitlines() == [
        "Would drop events_2020_01.",
        "Would drop 1 partition(s) ending on or before 2020-02-01.",
    ]
    assert "events_2020_01" in [partition.name for partition in list_partitions()]

    assert "Dropped events_2020_01." in run("drop", "--before", "2020-02-01")
    assert "events_2020_01" not in [partition.name for partition in list_partitions()]
    assert run("drop", "--before", "2020-02-01") == "No partition ends on or before 2020-02-01; nothing to drop.\n"


def test_errors_are_command_errors():
    with pytest.raises(CommandError, match="in the future"):
        run("drop", "--before", "2999-01-01")
    with pytest.raises(CommandError, match="negative"):
        run("ensure", "--months-ahead", "-1")
