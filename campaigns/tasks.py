from celery import shared_task

from .choices import ImportKind, ImportStatus
from .imports import run_recipient_import
from .models import ImportJob


@shared_task(acks_late=True)
def process_import(import_job_id):
    """Runs one import. Safe to deliver twice: a finished job is left alone, an interrupted one redone."""
    job = ImportJob.objects.filter(pk=import_job_id).first()
    if job is None or job.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
        return
    if job.kind == ImportKind.RECIPIENTS:
        run_recipient_import(job)


@shared_task(acks_late=True)
def record_mailing(campaign_id):
    """Marks a mailed campaign's pieces as sent. Idempotent: only still-pending recipients are touched."""
    from .services import mark_campaign_mailed

    mark_campaign_mailed(campaign_id=campaign_id)
