from celery import shared_task

from .partitions import ensure_partitions


@shared_task(acks_late=True)
def maintain_partitions():
    """Daily: keeps the current month and the next three partitioned, so inserts never find a month missing."""
    return ensure_partitions()
