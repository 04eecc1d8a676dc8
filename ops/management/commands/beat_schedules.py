"""`manage.py beat_schedules`: adds the coded beat schedules missing from the database (staff edits are kept)."""

from django.core.management.base import BaseCommand

from ops.beat import install_default_schedules


class Command(BaseCommand):
    help = "Create the default Celery beat schedules that are missing; existing ones (perhaps edited) are kept."

    def handle(self, *args, **options):
        created = install_default_schedules()
        for name in created:
            self.stdout.write(f"Created {name}.")
        self.stdout.write(self.style.SUCCESS(f"{len(created)} schedule(s) created; the others already existed."))
