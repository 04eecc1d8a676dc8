from datetime import UTC

from django.db import IntegrityError
from django.utils import timezone
from psycopg.errors import CheckViolation

from .choices import CUSTOM_EVENT_TYPE, EventSource, EventType
from .exceptions import InvalidEventSource, InvalidEventType, MissingPartition
from .models import Event


def record_event(*, event_type, source, campaign=None, campaign_id=None, recipient_id=None, payload=None,
                 occurred_at=None):
    """Records one event: validation in Python, then a single INSERT (no lookups), so hot paths can afford it.

    Pass the campaign or its id. `occurred_at` is when it happened (default: now); it decides the partition.
    A month without a partition raises MissingPartition; like any failed statement, that also aborts the
    surrounding transaction.
    """
    if (campaign is None) == (campaign_id is None):
        raise TypeError("record_event() takes exactly one of campaign and campaign_id.")
    if not isinstance(event_type, str) or not (
        event_type in EventType.values or CUSTOM_EVENT_TYPE.fullmatch(event_type)
    ):
        raise InvalidEventType(event_type)
    if source not in EventSource.values:
        raise InvalidEventSource(source)
    created_at = occurred_at or timezone.now()
    owner = {"campaign": campaign} if campaign is not None else {"campaign_id": campaign_id}
    try:
        return Event.objects.create(
            **owner,
            created_at=created_at,
            recipient_id=recipient_id,
            event_type=event_type,
            source=source,
            payload=payload or {},
        )
    except IntegrityError as exc:
        # "no partition of relation ... found for row" is a check violation that names no constraint
        # (recognised that way rather than by its text, which the server may translate).
        if not isinstance(exc.__cause__, CheckViolation) or exc.__cause__.diag.constraint_name is not None:
            raise
        raise MissingPartition(f"{created_at.astimezone(UTC):%Y-%m}") from exc
