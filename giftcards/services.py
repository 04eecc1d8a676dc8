"""Gift cards: assignment, redemption, delivery bookkeeping, void and reissue. Money moves here.

Rules every function follows: rows are locked before they change (recipient before card; several cards
in pk order), competing claimers skip each other's locked cards (FOR UPDATE SKIP LOCKED) instead of
failing, every transition writes a GiftCardLog row, and side effects (delivery, alert emails) run only
after commit.
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DEFERRED
from django.utils import timezone

import analytics
from accounts.access import request_actor
from accounts.choices import AuditAction
from accounts.services import record_audit
from analytics.choices import EventSource, EventType
from campaigns.choices import CLOSED_STATUSES, RESPONDING_STATUSES, RecipientStatus
from campaigns.models import Campaign, Recipient
from mobul.celery import queue_once
from mobul.db import prepared_cursor

from .choices import (
    AWAITING_DELIVERY, CLAIMED_STATUSES, DeliveryStatus, GiftCardAction, GiftCardStatus, RedemptionChannel,
)
from .crypto import decrypt_code
from .exceptions import (
    CampaignClosed,
    CampaignNotActive,
    CardNotVoidable,
    NoRewardPool,
    PoolExhausted,
    PoolMismatch,
    RedemptionCooldown,
    UnknownToken,
)
from .models import GiftCard, GiftCardLog, GiftCardPool, PoolAlert
from .selectors import is_low, with_stock
from .tasks import (
    DELIVERIES_SCHEDULED_KEY, check_pool_level_later, deliver_gift_card, dispatch_deliveries, notify_low_stock,
    pool_check_key,
)

ASSIGN_CHUNK = 5000
# A burst of claims leads to one stock check per pool, this many seconds after the first claim.
POOL_CHECK_DELAY_SECONDS = 10
# Cards handed to delivery tasks per transaction of dispatch_deliveries.
DISPATCH_CHUNK = 500
# A wake-up lost with the broker is made up by the minutely run; the key must not outlive that much.
DELIVERIES_SCHEDULED_TIMEOUT = 60


def _log(card, action, from_status, *, request=None, actor=None, reason=""):
    user, api_key = request_actor(request)
    GiftCardLog.objects.create(
        card=card, action=action, from_status=from_status, to_status=card.status, recipient_id=card.recipient_id,
        actor=actor or user, api_key=api_key, reason=reason[:500],
    )


# --- Stock ----------------------------------------------------------------------------------

def check_pool_level(*, pool_id):
    """Opens an alert (and emails the client's admins) when the available share crosses below the threshold;
    resolves it when stock is back above. The pool's row lock makes concurrent checks take turns, so a
    crossing opens exactly one alert."""
    with transaction.atomic():
        GiftCardPool.objects.select_for_update().filter(pk=pool_id).exists()
        pool = with_stock(GiftCardPool.objects.filter(pk=pool_id)).get()
        open_alert = PoolAlert.objects.filter(pool=pool, resolved_at__isnull=True).first()
        if is_low(pool) and open_alert is None:
            alert = PoolAlert.objects.create(pool=pool, available=pool.available, total=pool.total)
            transaction.on_commit(lambda: notify_low_stock.delay(alert.pk))
            return alert
        if not is_low(pool) and open_alert is not None:
            open_alert.resolved_at = timezone.now()
            open_alert.save(update_fields=["resolved_at"])
    return None


# Pool id → monotonic time this process last scheduled a check: claims right after skip even the cache call.
_checks_scheduled_here = {}


def schedule_pool_check(pool_id):
    """Counting a big pool per claim would cost more than the claim: checks are coalesced per pool.

    The shared cache key allows one scheduled check per pool at a time. A claim made in this process less
    than the delay after this process scheduled a check is covered by that check, which runs later."""
    now = time.monotonic()
    if now - _checks_scheduled_here.get(pool_id, -POOL_CHECK_DELAY_SECONDS) < POOL_CHECK_DELAY_SECONDS - 1:
        return
    if queue_once(check_pool_level_later, pool_check_key(pool_id), timeout=POOL_CHECK_DELAY_SECONDS,
                  args=(pool_id,), countdown=POOL_CHECK_DELAY_SECONDS):
        _checks_scheduled_here[pool_id] = now


# --- Delivery dispatch ----------------------------------------------------------------------------

def schedule_deliveries():
    """After a claim commits: one dispatch run queued at a time, instead of one task published per claim.

    A claim committed while a run waits is in what that run reads; one committed after the run released
    the key (it does so before reading) queues the next run."""
    queue_once(dispatch_deliveries, DELIVERIES_SCHEDULED_KEY, timeout=DELIVERIES_SCHEDULED_TIMEOUT)


# Hands pending cards to delivery tasks. The tasks are published before this commits: a crash in between
# leaves the cards pending, dispatched again later, and deliver_gift_card's row lock keeps a second task
# from sending a card twice.
TAKE_PENDING_SQL = """
UPDATE gift_cards SET delivery_status = 'queued'
WHERE id IN (SELECT id FROM gift_cards WHERE delivery_status = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def dispatch_pending_deliveries():
    """Queues one delivery task per claimed card waiting for one; returns how many were queued."""
    dispatched = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(TAKE_PENDING_SQL, [DISPATCH_CHUNK])
            card_ids = sorted(card_id for (card_id,) in cursor.fetchall())
            for card_id in card_ids:
                deliver_gift_card.delay(card_id)
        dispatched += len(card_ids)
        if len(card_ids) < DISPATCH_CHUNK:
            return dispatched


# --- Bulk assignment --------------------------------------------------------------------------

# One chunk: lock free cards and card-less recipients (skipping rows another assignment holds), pair them
# one-to-one by rank, and write both sides and the log in the same statement.
ASSIGN_SQL = """
WITH cards AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
        SELECT id FROM gift_cards
        WHERE pool_id = %(pool)s AND status = 'available' AND recipient_id IS NULL
        ORDER BY id LIMIT %(chunk)s FOR UPDATE SKIP LOCKED
    ) free_cards
), people AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
        SELECT id FROM recipients
        WHERE campaign_id = %(campaign)s AND gift_card_id IS NULL AND deleted_at IS NULL
        ORDER BY id LIMIT %(chunk)s FOR UPDATE SKIP LOCKED
    ) waiting
), pairs AS (
    SELECT cards.id AS card_id, people.id AS recipient_id FROM cards JOIN people USING (n)
), assigned_cards AS (
    UPDATE gift_cards SET recipient_id = pairs.recipient_id, assigned_at = %(now)s
    FROM pairs WHERE gift_cards.id = pairs.card_id
    RETURNING gift_cards.id, gift_cards.recipient_id
), assigned_people AS (
    UPDATE recipients SET gift_card_id = pairs.card_id, updated_at = %(now)s
    FROM pairs WHERE recipients.id = pairs.recipient_id
    RETURNING recipients.id
)
INSERT INTO gift_card_logs (card_id, action, from_status, to_status, recipient_id, actor_id, api_key_id, reason,
                            created_at)
SELECT id, 'assigned', 'available', 'available', recipient_id, %(actor)s, %(api_key)s, '', %(now)s
FROM assigned_cards
"""


@dataclass
class AssignmentResult:
    assigned: int
    shortfall: int


@dataclass(frozen=True)
class AssignmentPreview:
    """What assigning `pool` to a campaign would do now, before anyone confirms it."""

    free_cards: int  # in the pool before the assignment
    recipients_without_card: int
    cards_to_take: int
    shortfall: int  # recipients who would still be without a card
    # Other campaigns not completed or cancelled that draw on the same pool: [(campaign, free cards left after)]
    live_campaigns_sharing_pool: list


def _check_assignable(pool, campaign):
    if pool.client_id != campaign.client_id:
        raise PoolMismatch("The pool and the campaign belong to different clients.", field="campaign")
    if campaign.status in CLOSED_STATUSES:
        raise CampaignClosed()


def free_cards(pool):
    return GiftCard.objects.filter(pool=pool, status=GiftCardStatus.AVAILABLE, recipient__isnull=True)


def assignment_preview(*, pool, campaign):
    """How many cards `assign_cards(pool=pool, campaign=campaign)` would take, who would still go without, and
    which other live campaigns draw on the same pool. Raises what assign_cards raises."""
    _check_assignable(pool, campaign)
    free = free_cards(pool).count()
    waiting = Recipient.objects.filter(campaign=campaign, gift_card__isnull=True).count()
    taken = min(free, waiting)
    sharing = (Campaign.objects.filter(gift_card_pool=pool).exclude(pk=campaign.pk)
               .exclude(status__in=CLOSED_STATUSES).order_by("name", "pk"))
    return AssignmentPreview(
        free_cards=free, recipients_without_card=waiting, cards_to_take=taken, shortfall=waiting - taken,
        live_campaigns_sharing_pool=[(other, free - taken) for other in sharing],
    )


# Taken by each chunk: a campaign completed or cancelled meanwhile stops the assignment, and its transition
# (FOR UPDATE) waits for the chunk in flight.
CAMPAIGN_STATUS_SQL = "SELECT status FROM campaigns WHERE id = %s FOR SHARE"


def assign_cards(*, pool, campaign, request=None, chunk_size=ASSIGN_CHUNK):
    """Gives every card-less recipient of `campaign` an available card of `pool`, set-based, chunk by chunk.

    Each chunk is its own short transaction. Returns how many were assigned and how many recipients are
    still without a card (the shortfall when the pool runs out). A completed or cancelled campaign is refused.
    """
    _check_assignable(pool, campaign)
    user, api_key = request_actor(request)
    assigned = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CAMPAIGN_STATUS_SQL, [campaign.pk])
            if cursor.fetchone()[0] in CLOSED_STATUSES:
                if not assigned:
                    raise CampaignClosed()
                break
            cursor.execute(ASSIGN_SQL, {
                "pool": pool.pk, "campaign": campaign.pk, "chunk": chunk_size, "now": timezone.now(),
                "actor": user.pk if user else None, "api_key": api_key.pk if api_key else None,
            })
            done = cursor.rowcount
        assigned += done
        if done < chunk_size:
            break
    shortfall = Recipient.objects.filter(campaign=campaign, gift_card__isnull=True).count()
    record_audit(action=AuditAction.UPDATE, obj=pool, client=pool.client, request=request,
                 changes={"assigned_to_campaign": campaign.pk, "assigned": assigned, "shortfall": shortfall})
    transaction.on_commit(lambda: check_pool_level_later.delay(pool.pk))
    return AssignmentResult(assigned=assigned, shortfall=shortfall)


# --- Redemption -------------------------------------------------------------------------------

@dataclass
class Redemption:
    card: GiftCard
    recipient: Recipient
    created: bool  # False when the recipient already had this card: the request was a repeat

    @property
    def code(self):
        return decrypt_code(self.card.code_encrypted)


def _claim(card, recipient, *, request, actor, channel):
    previous = card.status
    now = timezone.now()
    card.status, card.claimed_at, card.recipient = GiftCardStatus.CLAIMED, now, recipient
    card.delivery_status = DeliveryStatus.PENDING
    card.assigned_at = card.assigned_at or now
    card.save(update_fields=["status", "claimed_at", "recipient", "delivery_status", "assigned_at"])
    _log(card, GiftCardAction.CLAIMED, previous, request=request, actor=actor, reason=f"channel: {channel}")


# Redemption is the hot path, so it is hand-written SQL: three statements where the ORM needed eight.
# The recipient's lock comes first and alone: statements after it see what a racing redemption committed.
# NO KEY UPDATE still makes redemptions of one recipient take turns, but lets foreign-key checks through: a
# delivery holding the recipient's card writes rows that reference the recipient.
LOCK_RECIPIENT_SQL = """
SELECT r.id, r.first_name, r.last_name, r.company, r.gift_card_id, r.campaign_id,
       c.status, c.gift_card_pool_id, c.client_id
FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
WHERE r.redemption_token = %s AND r.deleted_at IS NULL
FOR NO KEY UPDATE OF r
"""
RECIPIENT_FIELDS = ("id", "first_name", "last_name", "company", "gift_card_id", "campaign_id")
CARD_FIELDS = ("id", "pool_id", "status", "recipient_id", "last4", "code_encrypted", "assigned_at", "claimed_at")
POOL_FIELDS = ("id", "client_id", "name", "brand", "denomination", "currency")
CARD_AND_POOL = """
g.id, g.pool_id, g.status, g.recipient_id, g.last4, g.code_encrypted, g.assigned_at, g.claimed_at,
p.id, p.client_id, p.name, p.brand, p.denomination, p.currency
"""
HELD_CARD_SQL = f"""
SELECT {CARD_AND_POOL} FROM gift_cards g JOIN gift_card_pools p ON p.id = g.pool_id
WHERE g.id = %s FOR UPDATE OF g
"""
# The card to claim: the recipient's own available card (locked above), or the pool's first free one.
PICK_HELD = "SELECT %(held)s::bigint AS id"
# The range on pool_id keeps it in the sort order, which only the free-card index (pool_id, id) gives: with
# `pool_id = …` the planner may walk the primary key instead and step over every claimed card, the first ones
# all claimed, on every redemption (9 ms per pick at 16,000 claimed, growing with the pool).
PICK_FREE = """
SELECT id FROM gift_cards
WHERE pool_id BETWEEN %(pool)s AND %(pool)s AND status = 'available' AND recipient_id IS NULL
ORDER BY pool_id, id LIMIT 1 FOR UPDATE SKIP LOCKED
"""
# Claims, logs and hands over the card unless the recipient claimed one within the cooldown; always
# returns one row: the last claim's time and, when the claim happened, the card and its pool.
CLAIM_SQL = """
WITH last_claim AS (
    SELECT max(claimed_at) AS at FROM gift_cards WHERE recipient_id = %(recipient)s
), picked AS ({pick}
), claimed AS (
    UPDATE gift_cards g
    SET status = 'claimed', recipient_id = %(recipient)s, claimed_at = %(now)s, delivery_status = 'pending',
        assigned_at = coalesce(g.assigned_at, %(now)s)
    FROM picked, last_claim
    WHERE g.id = picked.id AND (last_claim.at IS NULL OR last_claim.at <= %(now)s - %(cooldown)s)
    RETURNING g.*
), logged AS (
    INSERT INTO gift_card_logs (card_id, action, from_status, to_status, recipient_id, actor_id, api_key_id,
                                reason, created_at)
    SELECT id, 'claimed', 'available', 'claimed', %(recipient)s, %(actor)s, %(api_key)s, %(reason)s, %(now)s
    FROM claimed
), holding AS (
    UPDATE recipients SET gift_card_id = claimed.id, status = 'redeemed', updated_at = %(now)s
    FROM claimed WHERE recipients.id = %(recipient)s
)
SELECT last_claim.at, {card_and_pool}
FROM last_claim LEFT JOIN claimed g ON true LEFT JOIN gift_card_pools p ON p.id = g.pool_id
"""
EVENT_SOURCES = {RedemptionChannel.AGENT: EventSource.CALL, RedemptionChannel.API: EventSource.API}


def _instance(model, field_names, values):
    """A model instance from some of its columns; the others load on access, as with .only()."""
    row = dict(zip(field_names, values))
    return model.from_db(connection.alias, field_names, [
        row.get(field.attname, DEFERRED) for field in model._meta.concrete_fields
    ])


def _card_from_row(row):
    card = _instance(GiftCard, CARD_FIELDS, row[:len(CARD_FIELDS)])
    card.pool = _instance(GiftCardPool, POOL_FIELDS, row[len(CARD_FIELDS):])
    return card


def redeem(*, token, channel=RedemptionChannel.WEB, request=None, actor=None):
    """The recipient behind `token` gets their gift card: the one assigned to them, or a free one of the pool.

    Idempotent: asking again returns the same card. All checks happen under the recipient's row lock, so
    concurrent requests for one recipient queue up and see each other's result, and the cooldown between
    two claims cannot be raced.
    """
    with transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(LOCK_RECIPIENT_SQL, [token])
        row = cursor.fetchone()
        if row is None:
            raise UnknownToken()
        recipient = _instance(Recipient, RECIPIENT_FIELDS, row[:6])
        campaign_status, pool_id, client_id = row[6:]
        held = None
        if recipient.gift_card_id is not None:
            cursor.execute(HELD_CARD_SQL, [recipient.gift_card_id])
            held = _card_from_row(cursor.fetchone())
            if held.status in CLAIMED_STATUSES:
                return Redemption(card=held, recipient=recipient, created=False)
        if campaign_status not in RESPONDING_STATUSES:
            raise CampaignNotActive()
        if pool_id is None:
            raise NoRewardPool()
        now = timezone.now()
        cooldown = timedelta(seconds=settings.REDEMPTION_COOLDOWN_SECONDS)
        user, api_key = request_actor(request)
        own_card = held is not None and held.status == GiftCardStatus.AVAILABLE
        cursor.execute(CLAIM_SQL.format(pick=PICK_HELD if own_card else PICK_FREE, card_and_pool=CARD_AND_POOL), {
            "recipient": recipient.pk, "held": recipient.gift_card_id, "pool": pool_id, "now": now,
            "cooldown": cooldown, "actor": getattr(actor or user, "pk", None), "api_key": getattr(api_key, "pk", None),
            "reason": f"channel: {channel}"[:500],
        })
        row = cursor.fetchone()
        last_claim, claimed = row[0], row[1] is not None
        if not claimed:
            if last_claim is not None and now - last_claim < cooldown:
                wait = cooldown - (now - last_claim)
                raise RedemptionCooldown(retry_after=max(1, int(wait.total_seconds()) + 1))
            raise PoolExhausted()
        card = _card_from_row(row[1:])
        recipient.gift_card, recipient.status = card, RecipientStatus.REDEEMED
        analytics.record_event(
            event_type=EventType.GIFT_CARD_CLAIMED, campaign_id=recipient.campaign_id, recipient_id=recipient.pk,
            source=EVENT_SOURCES.get(channel, EventSource.PURL),
            payload={"card": card.pk, "pool": card.pool_id, "channel": channel}, count_later=True,
        )
        if actor is not None or request is not None:
            record_audit(action=AuditAction.TRANSITION, obj=card, client_id=client_id, request=request,
                         actor=actor, changes={"status": ["available", "claimed"], "recipient": recipient.pk})
        transaction.on_commit(schedule_deliveries)
        transaction.on_commit(lambda: schedule_pool_check(card.pool_id))
    return Redemption(card=card, recipient=recipient, created=True)


# --- Delivery bookkeeping (the sending itself is in delivery.py) -----------------------------

def mark_delivered(*, card_id, channel):
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().get(pk=card_id)
        if card.status != GiftCardStatus.CLAIMED:
            return card
        card.status, card.delivered_at = GiftCardStatus.DELIVERED, timezone.now()
        card.delivery_status, card.delivery_error = DeliveryStatus.SENT, ""
        card.delivery_attempts += 1
        card.save(update_fields=["status", "delivered_at", "delivery_status", "delivery_error", "delivery_attempts"])
        _log(card, GiftCardAction.DELIVERED, GiftCardStatus.CLAIMED, reason=f"by {channel}")
        analytics.record_event(
            event_type=EventType.GIFT_CARD_DELIVERED, campaign_id=card.recipient.campaign_id,
            recipient_id=card.recipient_id, source=EventSource.API, payload={"card": card.pk, "channel": channel},
        )
    return card


def mark_delivery_failed(*, card_id, error, final):
    with transaction.atomic():
        card = GiftCard.objects.select_for_update().get(pk=card_id)
        card.delivery_attempts += 1
        card.delivery_error = error[:500]
        card.delivery_status = DeliveryStatus.FAILED if final else DeliveryStatus.QUEUED
        card.save(update_fields=["delivery_attempts", "delivery_error", "delivery_status"])
        if final:
            _log(card, GiftCardAction.DELIVERY_FAILED, card.status, reason=error)
    return card


def mark_undeliverable(*, card_id):
    GiftCard.objects.filter(pk=card_id).update(delivery_status=DeliveryStatus.UNDELIVERABLE)


# --- Staff actions --------------------------------------------------------------------------

@transaction.atomic
def void_card(*, card, reason, request=None):
    """Takes a card out of circulation; its recipient (if any) is free to get another one."""
    if not reason.strip():
        raise CardNotVoidable("Give a reason for voiding the card.", field="reason")
    card = GiftCard.objects.select_for_update().get(pk=card.pk)
    if card.status in (GiftCardStatus.VOID, GiftCardStatus.REDEEMED, GiftCardStatus.EXPIRED):
        raise CardNotVoidable(f"A {card.get_status_display().lower()} card cannot be voided.")
    previous = card.status
    card.status, card.voided_at = GiftCardStatus.VOID, timezone.now()
    if card.delivery_status in AWAITING_DELIVERY:
        card.delivery_status = DeliveryStatus.NOT_SENT  # out of the delivery outbox: a void card is never sent
    card.save(update_fields=["status", "voided_at", "delivery_status"])
    Recipient.all_objects.filter(gift_card=card).update(gift_card=None, updated_at=timezone.now())
    _log(card, GiftCardAction.VOIDED, previous, request=request, reason=reason)
    record_audit(action=AuditAction.TRANSITION, obj=card, client=card.pool.client, request=request,
                 changes={"status": [previous, GiftCardStatus.VOID], "reason": reason})
    return card


def reissue_card(*, card, reason, request=None):
    """Voids `card` and gives its recipient a fresh one from the same pool, delivered again."""
    with transaction.atomic():
        recipient = Recipient.all_objects.select_for_update(no_key=True).get(pk=card.recipient_id)
        void_card(card=card, reason=reason, request=request)
        replacement = (
            GiftCard.objects.select_for_update(skip_locked=True)
            .filter(pool_id=card.pool_id, status=GiftCardStatus.AVAILABLE, recipient__isnull=True)
            .order_by("pk").first()
        )
        if replacement is None:
            raise PoolExhausted("No card left in the pool to reissue.")
        _claim(replacement, recipient, request=request, actor=None, channel=f"reissue of card {card.pk}")
        recipient.gift_card = replacement
        recipient.save(update_fields=["gift_card", "updated_at"])
        transaction.on_commit(schedule_deliveries)
        transaction.on_commit(lambda: check_pool_level_later.delay(card.pool_id))
    return replacement


def reveal_code(*, card, request):
    """The full code, for staff, recorded in both the card log and the audit log."""
    _log(card, GiftCardAction.REVEALED, card.status, request=request, reason="revealed to staff")
    record_audit(action=AuditAction.REVEAL, obj=card, client=card.pool.client, request=request,
                 changes={"last4": card.last4})
    return decrypt_code(card.code_encrypted)
