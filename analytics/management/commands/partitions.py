"""`manage.py partitions list | ensure [--months-ahead N] | drop --before YYYY-MM-DD [--dry-run]`."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from analytics.partitions import drop_partitions_before, ensure_partitions, list_partitions
from mobul.exceptions import DomainError


class Command(BaseCommand):
    help = "List the monthly partitions of the events table, create the coming ones, or drop those past retention."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,ensure,drop}")
        actions.add_parser("list", help="Show every partition with its range and estimated row count.")
        ensure = actions.add_parser("ensure", help="Create the partitions of this month and the coming ones.")
        ensure.add_argument("--months-ahead", type=int, default=3, help="Months after this one (default 3).")
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

    def _ensure(self, *, months_ahead, **options):
        created = ensure_partitions(months_ahead=months_ahead)
        for name in created:
            self.stdout.write(f"Created {name}.")
        self.stdout.write(self.style.SUCCESS(
            f"Created {len(created)} partition(s); this month and the next {months_ahead} are partitioned."
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
