import logging

from celery import shared_task

from .choices import RecordingStatus
from .exceptions import RecordingUnavailable
from .models import CallSession

logger = logging.getLogger(__name__)

RECORDING_MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, max_retries=RECORDING_MAX_RETRIES)
def download_recording(self, session_id):
    """Copies a call's recording from the provider into storage; retried with backoff. Safe to run twice:
    a stored recording is never downloaded again."""
    # services queues this task, so it is imported here rather than at the top.
    from .services import recording_failed, store_recording

    if not CallSession.objects.filter(pk=session_id, recording__isnull=True).exists():
        return
    try:
        store_recording(session_id=session_id)
    except RecordingUnavailable as error:
        final = not error.retryable or self.request.retries >= RECORDING_MAX_RETRIES
        retry_in = None if final else min(3600, 30 * 2 ** self.request.retries)
        recording_failed(session_id=session_id, error=str(error), retry_in=retry_in)
        if final:
            logger.warning("Recording of call %s not downloaded, giving up: %s", session_id, error)
            return
        raise self.retry(exc=error, countdown=retry_in)


RESTORE_CHECK_SECONDS = 30 * 60
# A thaw takes hours (GLACIER Standard: 3-5 h; DEEP_ARCHIVE up to 48 h): keep looking for three days.
RESTORE_MAX_RETRIES = 3 * 24 * 2


@shared_task(bind=True, acks_late=True, max_retries=RESTORE_MAX_RETRIES)
def restore_archived_recording(self, session_id):
    """Brings an archived recording back into the recordings storage, retrying while cold storage thaws it."""
    from .archive import restore_abandoned, restore_recording
    from .services import recording_task_due

    if restore_recording(session_id=session_id):
        return
    if self.request.retries >= RESTORE_MAX_RETRIES:
        logger.warning("Recording of call %s still not thawed; the restore request is dropped.", session_id)
        restore_abandoned(session_id=session_id)
        return
    recording_task_due(session_id=session_id, status=RecordingStatus.RESTORING, in_seconds=RESTORE_CHECK_SECONDS)
    raise self.retry(countdown=RESTORE_CHECK_SECONDS)


@shared_task
def sweep_recordings():
    """Every 5 minutes: downloads and restores whose message was lost are queued again (services.sweep_recordings)."""
    from .services import sweep_recordings as sweep

    return sweep()

