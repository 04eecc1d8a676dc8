"""The life of an ImportJob, whatever it imports (recipients, gift-card codes), and its way out after a crash.

    pending --claim--> running --finish--> completed | failed
       ^                  | heartbeat stale: its worker died
       +---- sweeper -----+  (or failed, once it was started IMPORT_MAX_ATTEMPTS times)

A job is queued after the commit that created it; a message lost with the broker leaves it pending, and the
sweeper queues it again. A worker claims it (one at a time), and while it runs a thread beats its heartbeat,
waiting for a lock or committing included, so a stale heartbeat means a dead worker: the sweeper hands the job
out again. The import itself is one transaction, so a killed run leaves nothing behind.

A run owns its job through the attempt it claimed: its heartbeat and its finish touch the job only while that
attempt is the job's and the job runs, so a run given up for dead (a frozen worker) cannot overwrite its successor."""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

import webhooks
from accounts.access import request_actor
from mobul.celery import after_commit
from webhooks.choices import EventType as WebhookEvent

from .choices import ImportKind, ImportStatus
from .models import ImportJob

logger = logging.getLogger(__name__)


class ImportTakenOver(Exception):
    """The job is no longer this run's: the sweeper gave it up for dead and perhaps another run claimed it."""


def new_import_job(*, uploaded_file, name, request, original_filename=None, **fields):
    """An ImportJob holding the uploaded file, attributed to whoever sent it, queued once the transaction commits.
    A file already in storage (a FieldFile: a staged upload) becomes the job's as it is, without a copy."""
    user, api_key = request_actor(request)
    job = ImportJob(original_filename=(original_filename or uploaded_file.name or "")[:255],
                    size_bytes=uploaded_file.size, created_by=user, api_key=api_key, queued_at=timezone.now(), **fields)
    if isinstance(uploaded_file, FieldFile):
        job.file.name = uploaded_file.name
    else:
        job.file.save(name, uploaded_file, save=False)
    job.save()
    _queue(job.pk, job.kind)
    return job


def _queue(job_id, kind):
    # giftcards depends on campaigns, so its task is looked up only when needed.
    from giftcards.tasks import process_card_import

    from .tasks import process_import

    task = process_card_import if kind == ImportKind.GIFT_CARDS else process_import
    after_commit(lambda: task.delay(job_id))


def claim(job_id):
    """The pending job `job_id`, now running as this worker's attempt; None when it is not pending (finished,
    or another run has it: a message delivered twice)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, queued_at=None,
        rows_done=0,
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def run_claimed(job_id, run):
    """Claims the job and runs `run(job)`; does nothing for a job that is not pending."""
    job = claim(job_id)
    if job is None:
        return None
    try:
        return run(job)
    except ImportTakenOver:
        logger.warning("import %s was given up for dead while this run went on; its work is rolled back", job_id)
        return None


def _ours(job):
    return ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, attempts=job.attempts)


def finish(job, **changes):
    """Records the claimed `job`'s outcome (`changes`, its status included) and its error report. Raises
    ImportTakenOver when the job is no longer this run's; inside the import's transaction that rolls it back."""
    for name, value in changes.items():
        setattr(job, name, value)
    job.finished_at = timezone.now()
    with transaction.atomic():
        if not _ours(job).update(finished_at=job.finished_at, error_report=job.error_report.name, **changes):
            raise ImportTakenOver()
        _publish_finished(job)
    return job


def _publish_finished(job):
    webhooks.publish(client_id=job.client_id, event_type=WebhookEvent.IMPORT_FINISHED, data={
        "import_id": job.pk, "kind": job.kind, "status": job.status, "campaign_id": job.campaign_id,
        "pool_id": job.pool_id, "rows_total": job.rows_total, "rows_imported": job.rows_imported,
        "rows_invalid": job.rows_invalid, "rows_duplicate": job.rows_duplicate, "error_message": job.error_message,
        "finished_at": job.finished_at,
    }, occurred_at=job.finished_at)


class ProgressReporter:
    """Publishes a claimed job's rows done and heartbeat on a connection of its own: the import's transaction is
    invisible until it commits, and may wait on locks for long. A thread beats every IMPORT_HEARTBEAT_SECONDS
    until close()."""

    def __init__(self, job):
        self.job = job
        self.connection = connections.create_connection("default")
        self.connection.inc_thread_sharing()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.beater = threading.Thread(target=self._beat, name=f"import-{job.pk}-heartbeat", daemon=True)
        self.beater.start()

    def _beat_with(self, assignments="", params=()):
        with self.lock, self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE import_jobs SET {assignments}heartbeat_at = %s WHERE id = %s AND attempts = %s AND status = %s",
                [*params, timezone.now(), self.job.pk, self.job.attempts, ImportStatus.RUNNING],
            )

    def report(self, rows_done, rows_total=None):
        """Records progress, on the job object too (its run finishes with what is known by then)."""
        rows_total = max(self.job.rows_total, rows_total or rows_done)
        self.job.rows_done, self.job.rows_total = rows_done, rows_total
        self._beat_with("rows_done = %s, rows_total = %s, ", [rows_done, rows_total])

    def _beat(self):
        while not self.stopped.wait(settings.IMPORT_HEARTBEAT_SECONDS):
            try:
                self._beat_with()
            except DatabaseError:
                logger.warning("import %s: heartbeat not recorded, trying again", self.job.pk, exc_info=True)
                with self.lock:
                    self.connection.close()  # the next beat connects afresh

    def close(self):
        self.stopped.set()
        self.beater.join()
        self.connection.close()


def _gave_up_message():
    return (f"The import was started {settings.IMPORT_MAX_ATTEMPTS} times and its worker stopped each time before "
            "it finished (a file too large for the worker's memory can do that); nothing was imported. Split the "
            "file into smaller ones and upload them, or ask support.")


def sweep(*, now=None):
    """The way out of a lost message or a dead worker: pending jobs whose task is IMPORT_REQUEUE_SECONDS late, and
    running jobs whose heartbeat is IMPORT_HEARTBEAT_TIMEOUT_SECONDS old, are queued again (as pending); a dead
    one already started IMPORT_MAX_ATTEMPTS times fails instead. Returns {"requeued": n, "failed": n}."""
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS)
    dead = Q(status=ImportStatus.RUNNING, heartbeat_at__lt=silent_since)
    late = Q(status=ImportStatus.PENDING, queued_at__lt=now - timedelta(seconds=settings.IMPORT_REQUEUE_SECONDS))
    with transaction.atomic():
        # Skips jobs whose run is committing its finish right now.
        stranded = ImportJob.objects.select_for_update(skip_locked=True).filter(dead | late).order_by("pk")
        jobs = list(stranded.values_list("pk", "kind", "status", "attempts"))
        given_up = [pk for pk, _, status, attempts in jobs
                    if status == ImportStatus.RUNNING and attempts >= settings.IMPORT_MAX_ATTEMPTS]
        requeued = [(pk, kind) for pk, kind, _, _ in jobs if pk not in given_up]
        ImportJob.objects.filter(pk__in=given_up).update(
            status=ImportStatus.FAILED, finished_at=now, rows_imported=0, error_message=_gave_up_message())
        for job in ImportJob.objects.filter(pk__in=given_up).order_by("pk"):
            _publish_finished(job)
        ImportJob.objects.filter(pk__in=[pk for pk, _ in requeued]).update(status=ImportStatus.PENDING, queued_at=now)
        for pk, kind in requeued:
            _queue(pk, kind)
    for pk in given_up:
        logger.error("import %s failed: its worker died on each of its %s attempts", pk, settings.IMPORT_MAX_ATTEMPTS)
    return {"requeued": len(requeued), "failed": len(given_up)}
