"""`manage.py retention run JOB [--dry-run]` | `retention list`: run a retention job by hand."""

from django.core.management.base import BaseCommand, CommandError

from mobul.exceptions import DomainError
from ops.models import RetentionJob, RetentionRun
from ops.retention import cutoff_for, run_job


class Command(BaseCommand):
    help = "Run a retention job now (events, recordings, recipients, gift_card_logs, audit_logs) or list recent runs."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{run,list}")
        run = actions.add_parser("run", help="Run one job, as beat does daily at 02:00 UTC.")
        run.add_argument("job", choices=RetentionJob.values)
        run.add_argument("--dry-run", action="store_true", help="Only count what the job would remove.")
        actions.add_parser("list", help="Show each job's cutoff and its last runs.")

    def handle(self, *args, action, **options):
        if action == "list":
            return self._list()
        job, dry_run = options["job"], options["dry_run"]
        self.stdout.write(f"{'Dry run of' if dry_run else 'Running'} {job}: data older than "
                          f"{cutoff_for(job):%Y-%m-%d %H:%M} UTC ...")
        try:
            run = run_job(job, dry_run=dry_run, triggered_by="manage.py retention")
        except (ValueError, DomainError) as error:
            raise CommandError(str(error)) from error
        summary = ", ".join(f"{name}: {value}" for name, value in run.counts.items()) or "nothing to do"
        if run.errors:
            raise CommandError(f"{job} finished with errors ({summary}):\n{run.errors}")
        self.stdout.write(self.style.SUCCESS(f"{'Would remove' if dry_run else 'Done'}: {summary}."))

    def _list(self):
        for job in RetentionJob:
            last = RetentionRun.objects.filter(job=job).first()
            seen = f"last run {last.started_at:%Y-%m-%d %H:%M} {last.status} {last.counts}" if last else "never run"
            self.stdout.write(f"{job.value:<15} cutoff {cutoff_for(job):%Y-%m-%d}  {seen}")
