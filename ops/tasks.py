"""Thin Celery tasks for operations: each takes plain arguments and calls one service."""

import logging

from celery import shared_task

from . import alerts, monitoring, retention

logger = logging.getLogger(__name__)


@shared_task
def run_retention_job(job, dry_run=False, triggered_by="beat"):
    """Daily at 02:00 UTC per job (settings.CELERY_BEAT_SCHEDULE), or queued by staff from the admin. A run
    still going is left alone; the refusal is listed among the runs."""
    try:
        return retention.run_job(job, dry_run=dry_run, triggered_by=triggered_by).pk
    except retention.RetentionRunning as refusal:
        logger.warning("%s", refusal.message)
        return None


@shared_task
def close_dead_retention_runs():
    """Every 5 minutes: runs left `running` by a process that died are closed as failed."""
    return retention.close_dead_runs()


@shared_task
def check_alerts():
    """Every minute: opens and resolves alerts against the thresholds in settings."""
    alerts.check_alerts()


@shared_task
def snapshot_database_size():
    """Daily: records the database size, so the monitoring page shows growth."""
    monitoring.snapshot_database_size()
