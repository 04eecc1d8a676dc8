from celery import shared_task

from django.core.cache import cache

from .partitions import ensure_partitions
from .rollups import APPLY_SCHEDULED_KEY, apply_pending_rollups


@shared_task(acks_late=True)
def maintain_partitions():
    """Daily: keeps every month from the retention cutoff to three ahead partitioned, so an event of any month
    retention keeps (a late one included) finds its partition. Never the months retention drops."""
    return ensure_partitions()


@shared_task(acks_late=True)
def apply_rollups():
    """Counts the ingested batches waiting in the rollup queue. Queued on commit of a batch, and every minute.

    The scheduling key is released before the queue is read: a batch committed after that schedules
    another run, and one committed before it is in what this run reads."""
    cache.delete(APPLY_SCHEDULED_KEY)
    return apply_pending_rollups()
