import logging

from celery import shared_task

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
        recording_failed(session_id=session_id, error=str(error), final=final)
        if final:
            logger.warning("Recording of call %s not downloaded, giving up: %s", session_id, error)
            return
        raise self.retry(exc=error, countdown=min(3600, 30 * 2 ** self.request.retries))
