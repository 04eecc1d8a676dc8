"""Delivery scans from the print vendor: each new scan becomes a `mail_delivered` / `mail_returned` event and
moves its recipient's status.

The vendor is authenticated by the webhook (analytics.views); its data is still checked scan by scan, and a
bad scan is reported back by its index instead of failing the whole batch.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

import analytics
from campaigns.choices import RecipientStatus
from campaigns.models import Recipient

from .choices import EventSource, EventType, MailScanStatus
from .exceptions import TooManyScans
from .partitions import list_partitions

MAX_SCANS_PER_REQUEST = 1000
# Vendor scanners' clocks drift: a scan may claim to be this far in the future and still count.
CLOCK_SKEW = timedelta(minutes=5)
# A return reason is a note in the event payload, not a document.
MAX_REASON_LENGTH = 500

EVENT_TYPES = {MailScanStatus.DELIVERED: EventType.MAIL_DELIVERED, MailScanStatus.RETURNED: EventType.MAIL_RETURNED}
RECIPIENT_STATUSES = {MailScanStatus.DELIVERED: RecipientStatus.DELIVERED,
                      MailScanStatus.RETURNED: RecipientStatus.RETURNED}
# The statuses a scan may move a recipient out of. A response or a redemption is further along than any scan,
# and a returned piece stays returned when a stray "delivered" scan arrives after it.
MOVABLE_FROM = {
    MailScanStatus.DELIVERED: [RecipientStatus.PENDING, RecipientStatus.MAILED],
    MailScanStatus.RETURNED: [RecipientStatus.PENDING, RecipientStatus.MAILED, RecipientStatus.DELIVERED],
}

# ON CONFLICT DO NOTHING skips scan ids already stored (also those a concurrent batch is inserting: it waits for
# that batch to commit), and RETURNING names the rows that are new, so one statement sorts new from duplicate.
INSERT_NEW_SCANS = """
INSERT INTO mail_scans (scan_id, recipient_id, status, scanned_at)
SELECT * FROM unnest(%s::varchar[], %s::bigint[], %s::varchar[], %s::timestamptz[])
ON CONFLICT (scan_id) DO NOTHING
RETURNING scan_id
"""


@dataclass(frozen=True)
class Scan:
    index: int
    scan_id: str
    token: str
    status: MailScanStatus
    scanned_at: datetime
    reason: str


@dataclass
class ScanReport:
    accepted: int = 0
    duplicates: int = 0
    errors: list = field(default_factory=list)

    def reject(self, index, code, message):
        self.errors.append({"index": index, "code": code, "message": message})

    def as_dict(self):
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "errors": sorted(self.errors, key=lambda error: error["index"])}


class _Rejected(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def record_mail_scans(*, scans):
    """Records a batch of at most MAX_SCANS_PER_REQUEST scans (dicts as the vendor sends them) and returns a
    ScanReport: how many were new, how many were already known by their scan id, and why the others failed.

    All writes of a batch share one transaction: the counts answered are exactly what was committed, and a
    batch that fails midway leaves nothing behind, so the vendor's retry starts from a clean slate.
    """
    if len(scans) > MAX_SCANS_PER_REQUEST:
        raise TooManyScans(
            f"{len(scans):,} scans in one request; send at most {MAX_SCANS_PER_REQUEST:,} per request."
        )
    report = ScanReport()
    now = timezone.now()
    parsed = []
    for index, item in enumerate(scans):
        try:
            parsed.append(_parse(index, item, now=now))
        except _Rejected as rejected:
            report.reject(index, rejected.code, rejected.message)
    parsed = _recordable(parsed, report)

    with transaction.atomic():
        # Locked in pk order, so two batches that touch the same recipients wait for each other instead of
        # deadlocking in the status updates below.
        recipients = {
            recipient.redemption_token: recipient
            for recipient in Recipient.objects.select_for_update()
            .filter(redemption_token__in={scan.token for scan in parsed})
            .order_by("pk")
            .only("pk", "campaign_id", "redemption_token")
        }
        matched = {}
        for scan in parsed:
            recipient = recipients.get(scan.token)
            if recipient is None:
                report.reject(scan.index, "unknown_token", "No recipient has this redemption token.")
            elif scan.scan_id in matched:
                report.duplicates += 1
            else:
                matched[scan.scan_id] = (scan, recipient)
        new = _insert_new(matched)
        moved = {status: [] for status in MailScanStatus}
        for scan, recipient in matched.values():
            if scan.scan_id not in new:
                report.duplicates += 1
                continue
            analytics.record_event(
                event_type=EVENT_TYPES[scan.status], campaign_id=recipient.campaign_id, recipient_id=recipient.pk,
                source=EventSource.MAIL, occurred_at=scan.scanned_at,
                payload={"scan_id": scan.scan_id, **({"reason": scan.reason} if scan.reason else {})},
            )
            moved[scan.status].append(recipient.pk)
            report.accepted += 1
        # Returned goes last, so it wins over a "delivered" for the same recipient in the same batch.
        for status in (MailScanStatus.DELIVERED, MailScanStatus.RETURNED):
            if moved[status]:
                Recipient.objects.filter(pk__in=moved[status], status__in=MOVABLE_FROM[status]).update(
                    status=RECIPIENT_STATUSES[status], updated_at=now
                )
    return report


def _parse(index, item, *, now):
    if not isinstance(item, dict):
        raise _Rejected("invalid_scan", "A scan must be a JSON object.")
    scan_id = _text(item, "scan_id")
    if len(scan_id) > 100:
        raise _Rejected("invalid_field", "scan_id is longer than 100 characters.")
    token = _text(item, "redemption_token")
    status = _text(item, "status")
    if status not in MailScanStatus.values:
        raise _Rejected("unknown_status", f"Unknown status {status!r}: use {' or '.join(MailScanStatus.values)}.")
    scanned_at = _text(item, "scanned_at")
    try:
        scanned_at = datetime.fromisoformat(scanned_at)
    except ValueError:
        raise _Rejected("invalid_timestamp", "scanned_at is not an ISO-8601 date and time.") from None
    if scanned_at.tzinfo is None:
        raise _Rejected("invalid_timestamp", "scanned_at has no time zone; add one, e.g. \"Z\" or \"+00:00\".")
    if scanned_at > now + CLOCK_SKEW:
        raise _Rejected("future_timestamp", "scanned_at is in the future.")
    reason = item.get("reason") or ""
    if not isinstance(reason, str):
        raise _Rejected("invalid_field", "reason must be text.")
    return Scan(index=index, scan_id=scan_id, token=token, status=MailScanStatus(status), scanned_at=scanned_at,
                reason=reason[:MAX_REASON_LENGTH])


def _text(item, name):
    value = item.get(name)
    if value is None or value == "":
        raise _Rejected("missing_field", f"{name} is missing.")
    if not isinstance(value, str):
        raise _Rejected("invalid_field", f"{name} must be a string.")
    return value


def _recordable(parsed, report):
    """The scans whose month still has an events partition; the others are reported.

    Checked up front (one catalogue read) because a missing partition fails the INSERT, which would roll back
    the whole batch on every retry: one scan from a dropped month must not keep the rest out forever.
    """
    partitions = list_partitions()
    recordable = []
    for scan in parsed:
        if any(partition.start <= scan.scanned_at < partition.end for partition in partitions):
            recordable.append(scan)
        else:
            report.reject(scan.index, "missing_partition",
                          f"Events of {scan.scanned_at.astimezone(UTC):%Y-%m} cannot be recorded: that month is "
                          "past retention or before records began.")
    return recordable


def _insert_new(matched):
    """Stores the scans and returns the scan ids that were not stored before."""
    if not matched:
        return set()
    # In scan-id order, so batches that share scan ids take their index locks in the same order.
    rows = [matched[scan_id] for scan_id in sorted(matched)]
    columns = (
        [scan.scan_id for scan, _ in rows],
        [recipient.pk for _, recipient in rows],
        [scan.status.value for scan, _ in rows],
        [scan.scanned_at for scan, _ in rows],
    )
    with connection.cursor() as cursor:
        cursor.execute(INSERT_NEW_SCANS, columns)
        return {scan_id for (scan_id,) in cursor.fetchall()}
