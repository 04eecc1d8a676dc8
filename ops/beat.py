"""Beat schedules: defined in code (settings.CELERY_BEAT_SCHEDULE, with crontab), kept in the database by
django-celery-beat where staff see and edit them.

django-celery-beat's own scheduler rewrites every coded entry at each start, undoing staff's edits; this one
only adds the entries that are missing, so installing the defaults is idempotent and an edit stays edited.
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat import schedulers
from django_celery_beat.models import PeriodicTask


def install_default_schedules(mapping=None):
    """Creates the coded beat entries the database does not have yet; returns their names."""
    mapping = settings.CELERY_BEAT_SCHEDULE if mapping is None else mapping
    created = []
    with transaction.atomic():
        existing = set(PeriodicTask.objects.filter(name__in=list(mapping)).values_list("name", flat=True))
        for name, entry in mapping.items():
            if name not in existing:
                schedulers.ModelEntry.from_entry(name, **entry)
                created.append(name)
    return created


class DatabaseScheduler(schedulers.DatabaseScheduler):
    def update_from_dict(self, mapping):
        install_default_schedules(mapping)
