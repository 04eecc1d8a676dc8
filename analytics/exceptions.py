from mobul.exceptions import Conflict, DomainError

from .choices import EventSource


class InvalidEventType(DomainError):
    code = "invalid_event_type"

    def __init__(self, value, **kwargs):
        super().__init__(
            f"Unknown event type {value!r}: use a built-in type or a custom one such as \"custom.coupon_printed\" "
            "(\"custom.\" followed by 1 to 50 of a-z, 0-9, \"_\" and \".\").",
            field="event_type",
            **kwargs,
        )


class InvalidEventSource(DomainError):
    code = "invalid_event_source"

    def __init__(self, value, **kwargs):
        super().__init__(
            f"Unknown event source {value!r}: use one of {', '.join(EventSource.values)}.", field="source", **kwargs
        )


class MissingPartition(DomainError):
    code = "missing_partition"

    def __init__(self, month, **kwargs):
        self.month = month
        super().__init__(
            f"No events partition exists for {month} (events_{month.replace('-', '_')}), so events of that month "
            "cannot be recorded. `python manage.py partitions ensure` creates every month from the retention "
            "cutoff to the coming ones; months past retention are gone.",
            **kwargs,
        )


class PastRetention(DomainError):
    code = "past_retention"

    def __init__(self, month, oldest, days, **kwargs):
        super().__init__(
            f"{month:%Y-%m} is older than the events retention keeps ({days} days, RETENTION_EVENTS_DAYS): the "
            f"oldest month kept is {oldest:%Y-%m}, and the retention job would drop an older partition again.",
            **kwargs,
        )


class CutoffInFuture(DomainError):
    code = "cutoff_in_future"
    default_message = "The cutoff is in the future; only past months can be dropped."


class MailWebhookNotConfigured(DomainError):
    code = "webhook_not_configured"
    status = 503
    default_message = (
        "The mail-tracking webhook has no signing secret configured (MAIL_WEBHOOK_SECRET), so it accepts nothing."
    )


class InvalidSignature(DomainError):
    code = "invalid_signature"
    status = 401


class ReplayedRequest(Conflict):
    code = "replayed"
    default_message = "This signed request was already received; sign a retry with a new timestamp."


class InvalidScanBatch(DomainError):
    code = "invalid_body"


class TooManyScans(InvalidScanBatch):
    code = "too_many_scans"
    field = "scans"
