"""`manage.py partitions list | ensure [--months-back N] [--months-ahead N] | drop --before YYYY-MM-DD [--dry-run]`."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.partitions import (
    MONTHS_AHEAD, drop_partitions_before, ensure_partitions, list_partitions, partition_range,
)
from mobul.exceptions import DomainError


class Command(BaseCommand):
    help = "List the monthly partitions of the events table, create the coming ones, or drop those past retention."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,ensure,drop}")
        actions.add_parser("list", help="Show every partition with its range and estimated row count.")
        ensure = actions.add_parser(
            "ensure", help="Create the partitions of the retention window (past months) and of the coming months.")
        ensure.add_argument("--months-back", type=int, default=None,
                            help="Months before this one (default: back to the events retention cutoff).")
        ensure.add_argument("--months-ahead", type=int, default=MONTHS_AHEAD,
                            help=f"Months after this one (default {MONTHS_AHEAD}).")
        drop = actions.add_parser("drop", help="Detach and drop the partitions that end on or before a date.")
        drop.add_argument("--before", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
        drop.add_argument("--dry-run", action="store_true", help="Only show what would be dropped.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except (ValueError, DomainError) as exc:
            raise CommandError(str(exc)) from exc

    def _list(self, **options):
        partitions = list_partitions()
        if not partitions:
            self.stdout.write("The events table has no partitions.")
            return
        width = max(len("name"), *(len(partition.name) for partition in partitions))
        self.stdout.write(f"{'name':<{width}}  {'from':<10}  {'to':<10}  {'rows (estimate)':>15}")
        for partition in partitions:
            self.stdout.write(
                f"{partition.name:<{width}}  {partition.start:%Y-%m-%d}  {partition.end:%Y-%m-%d}  "
                f"{partition.estimated_rows:>15,}"
            )

    def _ensure(self, *, months_back, months_ahead, **options):
        today = timezone.now().date()
        first, last = partition_range(months_back=months_back, months_ahead=months_ahead, today=today)
        created = ensure_partitions(months_back=months_back, months_ahead=months_ahead, today=today)
        for name in created:
            self.stdout.write(f"Created {name}.")
        self.stdout.write(self.style.SUCCESS(
            f"Created {len(created)} partition(s); every month from {first:%Y-%m} to {last:%Y-%m} is partitioned."
        ))

    def _drop(self, *, before, dry_run, **options):
        names = drop_partitions_before(before, dry_run=dry_run)
        if not names:
            self.stdout.write(f"No partition ends on or before {before:%Y-%m-%d}; nothing to drop.")
            return
        verb = "Would drop" if dry_run else "Dropped"
        for name in names:
            self.stdout.write(f"{verb} {name}.")
        summary = f"{verb} {len(names)} partition(s) ending on or before {before:%Y-%m-%d}."
        self.stdout.write(summary if dry_run else self.style.SUCCESS(summary))
