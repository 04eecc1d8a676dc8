"""Batches of events from integrators: validated per item, written in one statement, counted once.

The events are readable as soon as the request returns; the rollups count them a moment later (see
rollups.apply_pending_rollups), so a request pays for storing the events and not for the rollup upserts.

Each item is checked on its own and a bad one is reported by index without failing the others. An item
may carry an idempotency key: a retried batch re-sends the same keys and those items are reported as
duplicates instead of being counted again.

A batch takes two statements: one reads what the checks need (the caller's campaigns, the recipients that
do not belong to the campaign an item names, the partitions) while the items are checked here, one stores
and audits the batch. A clean batch, the usual kind, is checked a field at a time over all its items
(_clean_batch); a batch with any problem item by item (_inspect, then _verdict once the lookup answers)."""

import json
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.services import AUDIT_COLUMNS, AUDIT_VALUES, audit_entry, audit_params, note_audited
from mobul.celery import after_commit
from mobul.db import pipeline, prepared_cursor
from mobul.exceptions import DomainError

from .choices import CUSTOM_EVENT_TYPE, EVENT_SOURCES, EVENT_TYPES, EventSource
from .exceptions import InvalidEventSource, InvalidEventType
from .partitions import PARTITION_BOUNDS_SQL, partition_window
from .rollups import schedule_rollups
from .services import validate_event_type, validate_source

MAX_BATCH = 1000
MAX_PAYLOAD_BYTES = 8192
MAX_KEY_LENGTH = 100
MAX_ID = 2**63 - 1
# Clocks differ a little; an event stamped a few minutes ahead of ours is still believable.
FUTURE_TOLERANCE = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Text PostgreSQL cannot store: NUL, and surrogates (JSON lets an unpaired "\ud800" through).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The caller's campaigns among those named; the items' (recipient, campaign) pairs, given as two arrays read in
# step, whose recipient is not in that campaign; the partitions.
LOOKUP_SQL = (
    "SELECT ARRAY(SELECT id FROM campaigns WHERE client_id = %(client)s AND id = ANY(%(campaigns)s::bigint[])),"
    " ARRAY(SELECT ARRAY[p.recipient, p.campaign]"
    "  FROM unnest(%(recipients)s::bigint[], %(recipient_campaigns)s::bigint[]) AS p (recipient, campaign)"
    "  WHERE NOT EXISTS (SELECT FROM recipients r WHERE r.id = p.recipient AND r.campaign_id = p.campaign)),"
    f" {PARTITION_BOUNDS_SQL}"
)


def _store_sql(claim, stored_where="", counted="stored"):
    """One statement that claims the keys (`claim`), stores the events `stored_where` admits, queues them for the
    rollups (the queue row rollups.apply_pending_rollups reads) and audits the batch if it stored any: atomic by
    itself. `counted` is what was stored: the events the INSERT returns, or the whole batch when it stores every row.

    An INSERT ... SELECT of the parsed JSON runs about as fast as a COPY of the same rows and needs no per-row work
    in Python. `events` is [rows, payloads], read in step. Keys compare in the key column's collation, C. A key is
    dated `now`, the application's clock its retention is judged on, not PostgreSQL's."""
    return f"""
WITH batch AS MATERIALIZED (
    SELECT 'epoch'::timestamptz + (e->>0)::bigint * interval '1 microsecond' AS created_at,
           (e->>1)::bigint AS campaign_id, (e->>2)::bigint AS recipient_id, e->>3 AS event_type, e->>4 AS source,
           payload, (e->>5) COLLATE "C" AS key
    FROM (SELECT %(events)s::jsonb AS events) AS input,
         ROWS FROM (jsonb_array_elements(input.events->0), jsonb_array_elements(input.events->1)) AS x (e, payload)
), claimed AS (
    INSERT INTO event_ingest_keys (client_id, key, created_at)
    SELECT %(client)s, key, %(now)s FROM batch WHERE key IS NOT NULL {claim}
), stored AS (
    INSERT INTO events (created_at, campaign_id, recipient_id, event_type, source, payload)
    SELECT created_at, campaign_id, recipient_id, event_type, source, payload FROM batch {stored_where}
    {"RETURNING created_at, campaign_id, recipient_id, event_type" if counted == "stored" else ""}
), queued AS (
    INSERT INTO event_rollup_queue (created_at, campaign_id, recipient_id, event_type)
    SELECT array_agg(created_at), array_agg(campaign_id), array_agg(recipient_id), array_agg(event_type)
    FROM {counted} HAVING count(*) > 0
), audited AS (
    INSERT INTO audit_logs ({AUDIT_COLUMNS}, changes)
    SELECT {AUDIT_VALUES}, jsonb_build_object('accepted', count(*), 'rejected', %(rejected)s::int,
                                              'duplicates', %(duplicates)s::int + %(rows)s::int - count(*))
    FROM {counted} HAVING count(*) > 0
)
SELECT count(*) FROM {counted}
"""


# Keys are almost always new, and a plain INSERT of them costs a third less than one that checks each for a conflict.
# A key already taken fails it whole (a unique violation); STORE_SQL then stores what is new.
STORE_NEW_KEYS_SQL = _store_sql("", counted="batch")
STORE_SQL = _store_sql("ON CONFLICT DO NOTHING RETURNING key", "WHERE key IS NULL OR key IN (SELECT key FROM claimed)")
UNIQUE_VIOLATION = "23505"
KEYS_CONSTRAINT = "event_ingest_keys_pkey"


class BatchRejected(DomainError):
    code = "invalid_batch"
    field = "events"


class ItemError(Exception):
    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list = field(default_factory=list)


def _is_id(value):
    # Ids are positive bigints. JSON true is an int to Python (type() is not), and objects or lists cannot even
    # be looked up.
    return type(value) is int and 0 < value <= MAX_ID


def _references(items):
    """The campaign ids the items name, and their (recipient, campaign) pairs."""
    campaigns, pairs = set(), set()
    for item in items:
        if isinstance(item, dict):
            campaign_id, recipient_id = item.get("campaign"), item.get("recipient")
            if _is_id(campaign_id):
                campaigns.add(campaign_id)
                if _is_id(recipient_id):
                    pairs.add((recipient_id, campaign_id))
    return campaigns, pairs


def _array(numbers):
    # A bigint[] literal: psycopg's array adapter costs more in Python than the statement does in PostgreSQL.
    return "{" + ",".join(map(str, numbers)) + "}"


def _moment(value):
    """occurred_at as an aware datetime, or None when it is not an ISO 8601 time with a timezone."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _microseconds(moment):
    # Exact, and a quarter of the cost of isoformat() here and of parsing its text in PostgreSQL.
    return (moment - EPOCH) // MICROSECOND


def _unstorable(value):
    """Whether a JSON value holds, anywhere, text that PostgreSQL cannot store."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    return isinstance(value, list) and any(_unstorable(item) for item in value)


def _payload_problem(payload):
    if not isinstance(payload, dict):
        return ItemError("invalid_payload", "payload must be an object.", "payload")
    text = repr(payload)
    # json.dumps() writes at most 12 characters (an escaped surrogate pair) for each of repr()'s, so a short repr()
    # proves a payload small at a fifth of the cost of encoding it.
    if len(text) * 12 > MAX_PAYLOAD_BYTES and len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        return ItemError("invalid_payload", f"payload is larger than {MAX_PAYLOAD_BYTES} bytes.", "payload")
    # repr() writes NUL and surrogates escaped, as \x00 and \udxxx: a repr() without those proves there are none.
    if ("\\x00" in text or "\\ud" in text) and _unstorable(payload):
        return ItemError("invalid_payload", "payload holds text that cannot be stored (U+0000 or an unpaired "
                         "surrogate).", "payload")
    return None


INVALID_ITEM = ItemError("invalid", "Each event must be an object.")
EMPTY_PAYLOAD = {}  # only ever encoded, never changed


def _inspect(item, now):
    """Checks all of an item that needs no lookup. Returns INVALID_ITEM, or (campaign id, recipient id, the problem to
    report before the recipient's, the problem to report after it, the row to store as STORE_SQL reads it, whether
    its time must fall in the partitions' window).

    An id of the wrong JSON type or range is None for the campaign (no such campaign) and False for the recipient (no
    such recipient). `now` is (datetime, its microseconds)."""
    if not isinstance(item, dict):
        return INVALID_ITEM
    campaign_id, recipient_id = item.get("campaign"), item.get("recipient")
    if not _is_id(campaign_id):
        campaign_id = None
    if recipient_id is not None and not _is_id(recipient_id):
        recipient_id = False
    event_type, source = item.get("event_type"), item.get("source", EventSource.API)
    early = None
    try:
        validate_event_type(event_type)
        validate_source(source)
    except (InvalidEventType, InvalidEventSource) as error:
        early = ItemError(error.code, error.message, error.field)
    late = _payload_problem(item.get("payload", EMPTY_PAYLOAD))
    key = item.get("idempotency_key")
    if late is None and key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH
                                             or UNSTORABLE.search(key)):
        late = ItemError("invalid_key", f"idempotency_key must be text of 1 to {MAX_KEY_LENGTH} characters, without "
                         "U+0000 or unpaired surrogates.", "idempotency_key")
    occurred_at = item.get("occurred_at")
    microseconds, dated = now[1], occurred_at is not None
    if dated:
        moment = _moment(occurred_at)
        if moment is None:
            late = late or ItemError("invalid_time", "occurred_at must be an ISO 8601 time with a timezone.",
                                     "occurred_at")
        else:
            microseconds = _microseconds(moment)
            if late is None and moment > now[0] + FUTURE_TOLERANCE:
                late = ItemError("future_time", "occurred_at is in the future.", "occurred_at")
    # Only numbers and text, so the garbage collector stops tracking the tuple: a batch's rows do not add to the full
    # collections that every request's surviving objects bring on. The payload goes apart (see STORE_SQL).
    return (campaign_id, recipient_id, early, late,
            (microseconds, campaign_id, recipient_id, event_type, source, key), dated)


def _verdict(inspected, campaigns, strangers, window):
    """The row to store, or the item's first problem in the documented order: its campaign, its type and source, its
    recipient, its payload, key and time, and last whether a partition holds its time. `strangers` are the
    (recipient, campaign) pairs whose recipient is not in that campaign; `window` is in microseconds, or None."""
    if inspected is INVALID_ITEM:
        return inspected
    campaign_id, recipient_id, early, late, row, dated = inspected
    if campaign_id not in campaigns:
        return ItemError("unknown_campaign", "No such campaign for this client.", "campaign")
    if early is not None:
        return early
    if recipient_id is not None and (recipient_id is False or (recipient_id, campaign_id) in strangers):
        return ItemError("unknown_recipient", "No such recipient in this campaign.", "recipient")
    if late is not None:
        return late
    if dated and (window is None or not window[0] <= row[0] < window[1]):
        return ItemError("outside_window", "occurred_at is older than the events kept (no partition for its "
                         "month).", "occurred_at")
    return row


@dataclass
class CleanBatch:
    """A batch every item of which passed the checks that need no lookup (see _clean_batch): its rows and payloads,
    the campaigns it names, and the earliest and latest time it gives (microseconds, None if it gives none)."""
    rows: list
    payloads: list
    campaigns: set
    earliest: int | None
    latest: int | None

    def fits(self, campaigns, strangers, window):
        """Whether the lookup's answer clears it too: every campaign the caller's, no recipient outside its campaign
        (the lookup's strangers are all pairs this batch names) and every time given in the partitions' window."""
        return (self.campaigns <= campaigns and not strangers
                and (self.earliest is None or (window is not None and window[0] <= self.earliest
                                               and self.latest < window[1])))


def _all_ids(values):
    return all(type(value) is int for value in values) and (not values or (min(values) > 0 and max(values) <= MAX_ID))


def _clean_batch(items, now):
    """The batch as a CleanBatch when none of its items has a problem that needs no lookup to see, else None.

    Integrators' batches are almost always clean. Checked a field at a time over the whole batch, mostly in C, this
    costs a third of checking item by item; a batch with any problem (or the same key twice) is left to _inspect and
    _verdict, which say which items fail and why."""
    try:
        campaign_ids = [item["campaign"] for item in items]  # TypeError when an item is not an object
        recipient_ids = [item.get("recipient") for item in items]
        event_types = [item["event_type"] for item in items]
        sources = [item.get("source", EventSource.API) for item in items]
        payloads = [item.get("payload", EMPTY_PAYLOAD) for item in items]
        keys = [item.get("idempotency_key") for item in items]
        times = [item.get("occurred_at") for item in items]
        kinds, named_sources = set(event_types), set(sources)  # TypeError when one is an object or a list
        given_keys = [key for key in keys if key is not None]
        joined_keys = "".join(given_keys)  # TypeError when one is not text
    except (KeyError, TypeError):
        return None
    named_recipients = [recipient_id for recipient_id in recipient_ids if recipient_id is not None]
    if not (_all_ids(campaign_ids) and _all_ids(named_recipients) and named_sources <= EVENT_SOURCES
            and all(type(kind) is str and (kind in EVENT_TYPES or CUSTOM_EVENT_TYPE.fullmatch(kind)) for kind in kinds)
            and all(type(payload) is dict for payload in payloads)):
        return None
    texts = list(map(repr, payloads))
    joined_texts = "".join(texts)
    # As _payload_problem: a short repr() proves a payload small, and one without escapes proves it storable.
    if max(map(len, texts)) * 12 > MAX_PAYLOAD_BYTES or "\\x00" in joined_texts or "\\ud" in joined_texts:
        return None
    if given_keys and (min(map(len, given_keys)) == 0 or max(map(len, given_keys)) > MAX_KEY_LENGTH
                       or UNSTORABLE.search(joined_keys) or len(set(given_keys)) < len(given_keys)):
        return None
    try:
        moments = list(map(datetime.fromisoformat, [value for value in times if value is not None]))
    except (TypeError, ValueError):
        return None
    if any(moment.tzinfo is None for moment in moments) or (moments and max(moments) > now[0] + FUTURE_TOLERANCE):
        return None
    given = list(map(_microseconds, moments))
    if len(given) == len(times):
        microseconds = given
    else:  # the items without a time happened now
        given_in_turn = iter(given)
        microseconds = [now[1] if value is None else next(given_in_turn) for value in times]
    return CleanBatch(
        rows=list(zip(microseconds, campaign_ids, recipient_ids, event_types, sources, keys)), payloads=payloads,
        campaigns=set(campaign_ids), earliest=min(given, default=None), latest=max(given, default=None),
    )


def _key_taken(error):
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) == UNIQUE_VIOLATION and cause.diag.constraint_name == KEYS_CONSTRAINT


def ingest_events(*, client, items, request=None):
    """Validates and stores a batch of at most MAX_BATCH events for `client`, audited (from `request`, if given)
    when it stored any. Returns an IngestResult."""
    if not isinstance(items, list) or not items:
        raise BatchRejected("Send a non-empty list of events.")
    if len(items) > MAX_BATCH:
        raise BatchRejected(f"A batch holds at most {MAX_BATCH} events; this one has {len(items)}.")
    campaigns, pairs = _references(items)
    now = timezone.now()
    now = (now, _microseconds(now))
    with pipeline(), prepared_cursor() as cursor:
        # Sent at once: the server looks up while the items are checked here.
        cursor.execute(LOOKUP_SQL, {"client": client.pk, "campaigns": _array(campaigns),
                                    "recipients": _array(pair[0] for pair in pairs),
                                    "recipient_campaigns": _array(pair[1] for pair in pairs)})
        clean = _clean_batch(items, now)
        inspected = [_inspect(item, now) for item in items] if clean is None else None
        known, strangers, bounds = cursor.fetchone()
    known, strangers = set(known), {tuple(pair) for pair in strangers}
    window = partition_window(bounds)
    if window is not None:
        window = (_microseconds(window[0]), _microseconds(window[1]))
    if clean is not None and clean.fits(known, strangers, window):
        result, rows, payloads = IngestResult(), clean.rows, clean.payloads
    else:
        if inspected is None:
            inspected = [_inspect(item, now) for item in items]
        result, rows, payloads = _item_by_item(items, inspected, known, strangers, window)
    if rows:
        _store(client, rows, payloads, result, request, now=now[0])
    return result


def _item_by_item(items, inspected, campaigns, strangers, window):
    """The IngestResult of the items' errors and duplicates, and the rows and payloads to store."""
    result, rows, payloads, keys = IngestResult(), [], [], set()
    for index, (item, item_inspected) in enumerate(zip(items, inspected)):
        row = _verdict(item_inspected, campaigns, strangers, window)
        if type(row) is ItemError:
            result.errors.append({"index": index, "code": row.code, "message": row.message, "field": row.field})
            continue
        key = row[-1]
        if key is not None:
            if key in keys:  # the same key twice in one batch counts once
                result.duplicates += 1
                continue
            keys.add(key)
        rows.append(row)
        payloads.append(item.get("payload", EMPTY_PAYLOAD))
    return result, rows, payloads


def _store(client, rows, payloads, result, request, *, now):
    """Stores the rows and audits the batch (from `request`, if given): usually with STORE_NEW_KEYS_SQL; when a key
    was taken that statement fails whole, and STORE_SQL stores what is new.

    A lone statement is atomic, so in autocommit mode it runs without a transaction: no BEGIN and no COMMIT, one round
    trip instead of three. Inside a transaction, a savepoint lets STORE_SQL follow a failed first statement."""
    audit = audit_entry(action=AuditAction.CREATE, object_type="analytics.EventBatch", client=client, request=request)
    # msgspec encodes the same values as json.dumps() 10 × faster (the payloads' numbers are finite: mobul.parsers).
    params = {"client": client.pk, "now": now, "events": msgspec.json.encode([rows, payloads]).decode(),
              "rows": len(rows), "duplicates": result.duplicates, "rejected": len(result.errors),
              **audit_params(audit)}
    for statement in (STORE_NEW_KEYS_SQL, STORE_SQL):
        try:
            with (nullcontext() if connection.get_autocommit() else transaction.atomic()), \
                    prepared_cursor() as cursor:
                cursor.execute(statement, params)
                (accepted,) = cursor.fetchone()
                if accepted:
                    note_audited(audit)
                    after_commit(schedule_rollups)  # a lost one is made up by the minutely apply_rollups
        except IntegrityError as error:
            if statement is STORE_SQL or not _key_taken(error):
                raise
            continue
        result.accepted, result.duplicates = accepted, result.duplicates + len(rows) - accepted
        return
