from celery import shared_task
from django.core.cache import cache

from . import jobs
from .imports import run_recipient_import


def mailing_queued_key(campaign_id):
    return f"campaigns:record-mailing:{campaign_id}"


@shared_task(acks_late=True)
def process_import(import_job_id):
    """Runs one recipient import. A message delivered twice does nothing more: only a pending job is claimed."""
    jobs.run_claimed(import_job_id, run_recipient_import)


@shared_task
def sweep_imports():
    """Every minute: imports whose message was lost, or whose worker died, are queued again (jobs.sweep)."""
    return jobs.sweep()


@shared_task
def purge_staged_imports():
    """Hourly: dashboard uploads left unmapped for STAGED_IMPORT_MAX_AGE_SECONDS are deleted with their files."""
    from .services import purge_staged_imports

    return purge_staged_imports()


@shared_task(acks_late=True)
def record_mailing(campaign_id):
    """Marks a mailed campaign's pieces as sent. Idempotent: only still-pending recipients are touched.

    The key is released before the recipients are read, so the sweeper may queue the next run."""
    from .services import mark_campaign_mailed

    cache.delete(mailing_queued_key(campaign_id))
    mark_campaign_mailed(campaign_id=campaign_id)


@shared_task
def sweep_mailings():
    """Every 10 minutes: mailed campaigns whose pieces were never marked sent (a lost record_mailing) get it again."""
    from .services import queue_unrecorded_mailings

    return queue_unrecorded_mailings()
