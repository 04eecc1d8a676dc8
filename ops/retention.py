"""Retention: what leaves the database, and when (periods in settings.RETENTION_DAYS).

| job            | what happens to data older than its period                                        |
|----------------|------------------------------------------------------------------------------------|
| events         | whole monthly partitions are detached and dropped (analytics.partitions)           |
| recordings     | moved to cold storage, the call session stays (calltracking.archive)               |
| recipients     | of campaigns that ended (completed or cancelled) that long ago: soft-deleted, personal fields cleared |
| gift_card_logs | rows deleted in batches                                                            |
| audit_logs     | rows deleted in batches                                                            |
| event_ingest_keys | integrators' per-event idempotency keys deleted in batches (a retry comes within days) |
Campaigns are never deleted.

`run_job` wraps every job the same way: a Redis lock so two runs of one job never overlap, a RetentionRun
row recording the cutoff, the counts and any errors, and a dry-run mode that only counts. Work goes in
batches of settings.RETENTION_BATCH_SIZE rows, one short transaction each.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import LockError

from analytics.partitions import drop_partitions_before
from calltracking.archive import archive_recording, due_for_archive
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, Recipient
from mobul.exceptions import Conflict

from .models import RetentionJob, RetentionRun, RunStatus

logger = logging.getLogger(__name__)

# A run holds its lock this long without progress before another may start; every batch renews it.
LOCK_SECONDS = 30 * 60
ENDED_CAMPAIGN_STATUSES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
# Cleared on a recipient past retention: everything that identifies a person.
PERSONAL_FIELDS = {
    "first_name": "", "last_name": "", "company": "", "address1": "", "address2": "", "city": "", "state": "",
    "postal_code": "", "phone": "", "email": "", "external_id": "", "custom_fields": {}, "dedupe_hash": 0,
}


class RetentionRunning(Conflict):
    code = "retention_running"
    default_message = "This retention job is already running; try again when it has finished."


def cutoff_for(job, *, now=None):
    return (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS[job])


def run_job(job, *, dry_run=False, now=None, triggered_by=""):
    """Runs one retention job under its lock and returns its RetentionRun. Raises RetentionRunning when
    another run of the job holds the lock."""
    if job not in JOBS:
        raise ValueError(f"Unknown retention job {job!r}; the jobs are: {', '.join(JOBS)}.")
    lock = cache.lock(f"ops:retention:{job}", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        raise RetentionRunning()
    try:
        run = RetentionRun.objects.create(job=job, dry_run=dry_run, cutoff=cutoff_for(job, now=now),
                                          triggered_by=triggered_by[:64])
        errors = []
        try:
            run.counts = JOBS[job](cutoff=run.cutoff, dry_run=dry_run, errors=errors, keep_alive=lock.reacquire)
        except Exception as error:
            logger.exception("Retention job %s failed", job)
            errors.append(f"{type(error).__name__}: {error}")
        run.errors = "\n".join(errors)
        run.status = RunStatus.FAILED if errors else RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save(update_fields=["counts", "errors", "status", "finished_at"])
        logger.info("Retention job %s %s%s: %s", job, run.status, " (dry run)" if dry_run else "", run.counts)
        return run
    finally:
        try:
            lock.release()
        except LockError:
            logger.warning("Retention job %s outlived its lock", job)


# --- The jobs ----------------------------------------------------------------------------------
# Each takes the cutoff, dry_run, a list to append per-item errors to, and keep_alive (call once per batch).

def drop_old_events(*, cutoff, dry_run, errors, keep_alive):
    # A partition is dropped once its whole month is past the cutoff, so no younger event is lost.
    names = drop_partitions_before(cutoff.date(), dry_run=dry_run)
    return {"partitions": len(names), "names": names}


def archive_old_recordings(*, cutoff, dry_run, errors, keep_alive):
    sessions = due_for_archive(cutoff)
    if dry_run:
        return {"recordings": sessions.count()}
    counts = {"archived": 0, "finished": 0, "skipped": 0, "failed": 0}
    last_pk = 0
    while batch := list(sessions.filter(pk__gt=last_pk).values_list("pk", flat=True)[:settings.RETENTION_BATCH_SIZE]):
        for session_id in batch:
            try:
                counts[archive_recording(session_id=session_id)] += 1
            except Exception as error:
                # One unreadable file must not hold back the rest; the next run tries it again.
                logger.exception("Archiving the recording of call %s failed", session_id)
                errors.append(f"call {session_id}: {type(error).__name__}: {error}")
                counts["failed"] += 1
            keep_alive()  # a recording can take seconds to copy: the lock must outlive the whole batch
        last_pk = batch[-1]
    return counts


def soft_delete_old_recipients(*, cutoff, dry_run, errors, keep_alive):
    campaigns = Campaign.objects.filter(status__in=ENDED_CAMPAIGN_STATUSES).annotate(
        ended_at=Coalesce(F("status_changed_at"), F("updated_at"))).filter(ended_at__lt=cutoff)
    campaign_ids = list(campaigns.values_list("pk", flat=True))
    live = Recipient.all_objects.filter(campaign_id__in=campaign_ids, deleted_at__isnull=True)
    if dry_run:
        return {"campaigns": len(campaign_ids), "recipients": live.count()}
    done = last_pk = 0
    # Keyset batches: each starts after the last one instead of skipping past the rows already cleared.
    while batch := list(live.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[
            :settings.RETENTION_BATCH_SIZE]):
        with transaction.atomic():
            done += Recipient.all_objects.filter(pk__in=batch, deleted_at__isnull=True).update(
                deleted_at=timezone.now(), updated_at=timezone.now(), **PERSONAL_FIELDS)
        last_pk = batch[-1]
        keep_alive()
    return {"campaigns": len(campaign_ids), "recipients": done}


def _purge(table, *, cutoff, dry_run, keep_alive, row="id", oldest_first=True):
    """Deletes `table`'s rows created before `cutoff`, a batch per transaction, each row found by `row` (a key,
    or "ctid" for a table without one); `oldest_first` for tables whose created_at has a B-tree index.

    Audit and gift-card logs are append-only: their guard trigger (ops migration 0002) refuses DELETE unless
    mobul.retention_purge is on, which only this function sets, for its own transaction."""
    quoted = connection.ops.quote_name(table)
    order = "ORDER BY created_at " if oldest_first else ""
    with connection.cursor() as cursor:
        if dry_run:
            cursor.execute(f"SELECT count(*) FROM {quoted} WHERE created_at < %s", [cutoff])
            return {"rows": cursor.fetchone()[0]}
        deleted = batches = 0
        while True:
            with transaction.atomic():
                cursor.execute("SET LOCAL mobul.retention_purge = 'on'")
                cursor.execute(
                    f"DELETE FROM {quoted} WHERE {row} = ANY(ARRAY("
                    f"SELECT {row} FROM {quoted} WHERE created_at < %s {order}LIMIT %s))",
                    [cutoff, settings.RETENTION_BATCH_SIZE],
                )
                count = cursor.rowcount
            if not count:
                return {"rows": deleted, "batches": batches}
            deleted, batches = deleted + count, batches + 1
            keep_alive()


def purge_gift_card_logs(*, cutoff, dry_run, errors, keep_alive):
    return _purge("gift_card_logs", cutoff=cutoff, dry_run=dry_run, keep_alive=keep_alive)


def purge_audit_logs(*, cutoff, dry_run, errors, keep_alive):
    return _purge("audit_logs", cutoff=cutoff, dry_run=dry_run, keep_alive=keep_alive)


def purge_event_ingest_keys(*, cutoff, dry_run, errors, keep_alive):
    # The key is the primary key and keys arrive in time order: rows by address, found through a BRIN index.
    return _purge("event_ingest_keys", cutoff=cutoff, dry_run=dry_run, keep_alive=keep_alive, row="ctid",
                  oldest_first=False)


JOBS = {
    RetentionJob.EVENTS: drop_old_events,
    RetentionJob.RECORDINGS: archive_old_recordings,
    RetentionJob.RECIPIENTS: soft_delete_old_recipients,
    RetentionJob.GIFT_CARD_LOGS: purge_gift_card_logs,
    RetentionJob.AUDIT_LOGS: purge_audit_logs,
    RetentionJob.EVENT_INGEST_KEYS: purge_event_ingest_keys,
}
