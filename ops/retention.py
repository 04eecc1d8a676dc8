"""Retention: what leaves the database, and when (periods in settings.RETENTION_DAYS).

| job            | what happens to data older than its period                                        |
|----------------|------------------------------------------------------------------------------------|
| events         | whole monthly partitions are detached and dropped (analytics.partitions)           |
| recordings     | moved to cold storage, the call session stays (calltracking.archive)               |
| recipients     | of campaigns that ended (completed or cancelled) that long ago: soft-deleted, personal fields cleared, proof files deleted |
| gift_card_logs | rows deleted in batches                                                            |
| audit_logs     | rows deleted in batches                                                            |
| event_ingest_keys | integrators' per-event idempotency keys deleted in batches (a retry comes within days) |
| webhook_messages | delivered and failed outbound webhook messages and their delivery log deleted in batches |
Campaigns are never deleted.

`run_job` wraps every job the same way: a lock so two runs of one job never overlap, a RetentionRun
row recording the cutoff, the counts and any errors, and a dry-run mode that only counts. Work goes in
batches of settings.RETENTION_BATCH_SIZE rows, one short transaction each.

The lock is a transaction-level advisory lock that a connection of the run's own holds in an open transaction
for the whole run. PostgreSQL releases it as soon as that connection drops, so a run whose process dies (a
SIGKILLed worker) blocks nothing: there is no lease to wait out. Being transaction-level it works through
PgBouncer in transaction mode (which lends the run one server connection while it lasts). The transaction
takes no snapshot between statements, so it holds back no vacuum. A run left `running` by a dead process is
closed as failed by the job's next run, by "Run now" and by `close_dead_runs` (beat, every 5 minutes).
"""

import logging
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from analytics.partitions import drop_partitions_before
from calltracking.archive import archive_recording, due_for_archive
from campaigns.choices import CLOSED_STATUSES
from campaigns.models import Campaign, Recipient
from mailpieces.proofs import erase_files as erase_proof_files
from mobul.exceptions import Conflict
from webhooks.services import finished_messages_before, purge_finished_messages

from .models import RetentionJob, RetentionRun, RunStatus

logger = logging.getLogger(__name__)

# A run that died a moment ago may still hold its lock until PostgreSQL sees its connection drop: wait this long.
LOCK_WAIT_SECONDS = 5
LOCK_POLL_SECONDS = 0.1
TRY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtext('ops.retention'), hashtext(%s))"
# Cleared on a recipient past retention: everything that identifies a person.
PERSONAL_FIELDS = {
    "first_name": "", "last_name": "", "company": "", "address1": "", "address2": "", "city": "", "state": "",
    "postal_code": "", "phone": "", "email": "", "external_id": "", "custom_fields": {}, "dedupe_hash": 0,
}


class RetentionRunning(Conflict):
    code = "retention_running"

    def __init__(self, job):
        live = RetentionRun.objects.filter(job=job, status=RunStatus.RUNNING).first()
        which = (f" (run #{live.pk}, started {live.started_at:%Y-%m-%d %H:%M:%S} UTC by {live.triggered_by or 'unknown'})"
                 if live else "")
        super().__init__(f"{RetentionJob(job).label} is already running{which}; it was not started again. "
                         "Try again when it has finished.")


class LockLost(Exception):
    """The connection holding a run's lock is gone: another run may have started, so this one stops."""


def cutoff_for(job, *, now=None):
    return (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS[job])


@contextmanager
def job_lock(job, *, wait_seconds=0):
    """Holds `job`'s lock for the block, on a connection of its own; yields a check that raises LockLost once the
    lock is gone. Raises RetentionRunning when another run holds it for longer than `wait_seconds`."""
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            deadline = time.monotonic() + wait_seconds
            while not _try_lock(cursor, job):
                if time.monotonic() >= deadline:
                    raise RetentionRunning(job)
                time.sleep(LOCK_POLL_SECONDS)

        def still_held():
            try:
                with holder.cursor() as cursor:
                    cursor.execute("SELECT 1")  # also keeps the holding transaction from idling out
            except Exception as error:
                raise LockLost(f"The connection holding the {job} lock was lost ({error}).") from error

        yield still_held
    finally:
        try:
            holder.rollback()
        except DatabaseError:
            pass  # the connection is gone already, and the lock with it
        holder.close()


def _try_lock(cursor, job):
    cursor.execute(TRY_LOCK_SQL, [job])
    return cursor.fetchone()[0]


def _close_dead_runs(job, closed_by, *, keep=None):
    """Marks `job`'s runs still `running` (but `keep`) as failed. Only called under the job's lock: no live run
    has them."""
    return RetentionRun.objects.filter(job=job, status=RunStatus.RUNNING).exclude(pk=keep).update(
        status=RunStatus.FAILED, finished_at=timezone.now(),
        errors=f"The process running it stopped before it finished (closed by {closed_by}).")


def ensure_not_running(job, *, closed_by):
    """Raises RetentionRunning when a run of `job` is going; closes the runs a dead process left `running`."""
    with job_lock(job):
        _close_dead_runs(job, closed_by)


def close_dead_runs():
    """Every job's runs left `running` by a process that died, closed as failed; their number."""
    closed = 0
    for job in set(RetentionRun.objects.filter(status=RunStatus.RUNNING).values_list("job", flat=True)):
        try:
            with job_lock(job):
                closed += _close_dead_runs(job, "the sweeper")
        except RetentionRunning:
            pass  # alive
    return closed


def run_job(job, *, dry_run=False, now=None, triggered_by=""):
    """Runs one retention job under its lock and returns its RetentionRun. Raises RetentionRunning when
    another run of the job holds the lock; the refusal is recorded as a `refused` run."""
    if job not in JOBS:
        raise ValueError(f"Unknown retention job {job!r}; the jobs are: {', '.join(JOBS)}.")
    cutoff, triggered_by = cutoff_for(job, now=now), triggered_by[:64]
    try:
        with job_lock(job, wait_seconds=LOCK_WAIT_SECONDS) as still_held:
            return _run_locked(job, dry_run=dry_run, cutoff=cutoff, triggered_by=triggered_by, keep_alive=still_held)
    except RetentionRunning as refusal:
        RetentionRun.objects.create(job=job, dry_run=dry_run, cutoff=cutoff, triggered_by=triggered_by,
                                    status=RunStatus.REFUSED, finished_at=timezone.now(), errors=refusal.message)
        raise


def _run_locked(job, *, dry_run, cutoff, triggered_by, keep_alive):
    run = RetentionRun.objects.create(job=job, dry_run=dry_run, cutoff=cutoff, triggered_by=triggered_by)
    _close_dead_runs(job, f"run #{run.pk}", keep=run.pk)
    errors = []
    try:
        run.counts = JOBS[job](cutoff=run.cutoff, dry_run=dry_run, errors=errors, keep_alive=keep_alive)
    except Exception as error:
        logger.exception("Retention job %s failed", job)
        errors.append(f"{type(error).__name__}: {error}")
    run.errors = "\n".join(errors)
    run.status = RunStatus.FAILED if errors else RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["counts", "errors", "status", "finished_at"])
    logger.info("Retention job %s %s%s: %s", job, run.status, " (dry run)" if dry_run else "", run.counts)
    return run


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
    campaigns = Campaign.objects.filter(status__in=CLOSED_STATUSES).annotate(
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
    return {"campaigns": len(campaign_ids), "recipients": done,
            "proof_files": erase_proof_files(campaign_ids=campaign_ids)}


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


def purge_webhook_messages(*, cutoff, dry_run, errors, keep_alive):
    if dry_run:
        return {"messages": finished_messages_before(cutoff).count()}
    messages = attempts = batches = 0
    while True:
        gone, logged = purge_finished_messages(cutoff=cutoff, limit=settings.RETENTION_BATCH_SIZE)
        if not gone:
            return {"messages": messages, "attempts": attempts, "batches": batches}
        messages, attempts, batches = messages + gone, attempts + logged, batches + 1
        keep_alive()


JOBS = {
    RetentionJob.EVENTS: drop_old_events,
    RetentionJob.RECORDINGS: archive_old_recordings,
    RetentionJob.RECIPIENTS: soft_delete_old_recipients,
    RetentionJob.GIFT_CARD_LOGS: purge_gift_card_logs,
    RetentionJob.AUDIT_LOGS: purge_audit_logs,
    RetentionJob.EVENT_INGEST_KEYS: purge_event_ingest_keys,
    RetentionJob.WEBHOOK_MESSAGES: purge_webhook_messages,
}
