"""The campaign's CSV downloads for people: its recipients, and what each one did (visited, scanned, called,
redeemed). Both stream from a server-side cursor, so a million-recipient campaign never sits in memory."""

from django.db import connections, router
from django.utils import timezone

from analytics.choices import EventType
from campaigns.export import csv_download
from campaigns.models import Recipient

CURSOR_ROWS = 2000
RECIPIENT_COLUMNS = ["recipient_id", "first_name", "last_name", "company", "address1", "address2", "city", "state",
                     "postal_code", "country", "phone", "email", "external_id", "short_code", "status", "created_at"]
RESULT_COLUMNS = ["recipient_id", "first_name", "last_name", "company", "email", "phone", "status",
                  "first_visit_at", "first_scan_at", "calls", "gift_card_status", "gift_card_claimed_at",
                  "gift_card_redeemed_at"]

_RECIPIENTS_SQL = f"""
SELECT id, {", ".join(RECIPIENT_COLUMNS[1:])} FROM recipients
WHERE campaign_id = %(campaign)s AND deleted_at IS NULL ORDER BY id
"""
# Responses are grouped once per campaign (on idx_events_campaign_type_date and call_sessions' campaign index),
# then joined to the recipients in id order: one pass, where a subquery per recipient would probe every events
# partition a million times.
_RESULTS_SQL = """
SELECT r.id, r.first_name, r.last_name, r.company, r.email, r.phone, r.status,
       v.first_visit_at, v.first_scan_at, coalesce(c.calls, 0), g.status, g.claimed_at, g.redeemed_at
FROM recipients r
LEFT JOIN (
    SELECT recipient_id,
           min(created_at) FILTER (WHERE event_type = %(visit)s) AS first_visit_at,
           min(created_at) FILTER (WHERE event_type = %(scan)s) AS first_scan_at
    FROM events
    WHERE campaign_id = %(campaign)s AND event_type IN (%(visit)s, %(scan)s) AND recipient_id IS NOT NULL
    GROUP BY recipient_id
) v ON v.recipient_id = r.id
LEFT JOIN (
    SELECT recipient_id, count(*) AS calls FROM call_sessions
    WHERE campaign_id = %(campaign)s AND recipient_id IS NOT NULL GROUP BY recipient_id
) c ON c.recipient_id = r.id
LEFT JOIN gift_cards g ON g.id = r.gift_card_id
WHERE r.campaign_id = %(campaign)s AND r.deleted_at IS NULL
ORDER BY r.id
"""


def _cell(value):
    if hasattr(value, "tzinfo"):
        return timezone.localtime(value).isoformat(timespec="seconds")
    return "" if value is None else value


def _stream(sql, campaign):
    """The rows of `sql` for the campaign, from a named (server-side) cursor held past the autocommit transaction
    like QuerySet.iterator's, so the rows are read CURSOR_ROWS at a time."""
    connection = connections[router.db_for_read(Recipient)]
    connection.ensure_connection()
    with connection.connection.cursor(name=f"campaign_export_{campaign.pk}", withhold=True) as cursor:
        cursor.itersize = CURSOR_ROWS
        cursor.execute(sql, {"campaign": campaign.pk, "visit": EventType.PURL_VIEWED.value,
                             "scan": EventType.QR_SCANNED.value})
        for row in cursor:
            yield [_cell(value) for value in row]


def recipient_rows(campaign):
    yield RECIPIENT_COLUMNS
    yield from _stream(_RECIPIENTS_SQL, campaign)


def result_rows(campaign):
    yield RESULT_COLUMNS
    yield from _stream(_RESULTS_SQL, campaign)


def recipients_csv(campaign):
    return csv_download(recipient_rows(campaign), f"campaign-{campaign.pk}-recipients.csv")


def results_csv(campaign):
    return csv_download(result_rows(campaign), f"campaign-{campaign.pk}-results.csv")
