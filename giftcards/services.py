"""Gift cards: assignment, redemption, delivery bookkeeping, expiry, void, reissue and redeemed. Money moves here.

Rules every function follows: rows are locked before they change (recipient before card; several cards
in pk order), competing claimers skip each other's locked cards (FOR UPDATE SKIP LOCKED) instead of
failing, every transition writes a card log row (card_log), statuses in SQL come from the choices, and
side effects (delivery, alert emails) run only after commit. Those hooks are robust: once a claim is
committed nothing may turn it into an error, and each wake-up they send has a periodic run behind it.
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DEFERRED
from django.utils import timezone

import analytics
import webhooks
from accounts.choices import AuditAction
from accounts.services import record_audit
from analytics.choices import EventSource, EventType
from campaigns.choices import CLOSED_STATUSES, RESPONDING_STATUSES, RecipientStatus
from campaigns.models import Campaign, Recipient
from campaigns.services import event_source
from mobul.celery import after_commit, message_counts, queue_of, queue_once
from mobul.db import prepared_cursor, sql_literal
from webhooks.choices import EventType as WebhookEvent

from . import card_log
from .choices import (
    AWAITING_DELIVERY,
    CLAIMED_STATUSES,
    REDEEMABLE_STATUSES,
    DeliveryStatus,
    GiftCardAction,
    GiftCardStatus,
    RedemptionChannel,
)
from .crypto import decrypt_code
from .exceptions import (
    BadRedemptionTime,
    CampaignClosed,
    CampaignNotActive,
    CardNotRedeemable,
    CardNotReissuable,
    CardNotVoidable,
    DeliveryNotResendable,
    DeliveryNotUnconfirmed,
    NoRewardPool,
    PoolExhausted,
    PoolMismatch,
    RedemptionCooldown,
    UnknownToken,
)
from .models import GiftCard, GiftCardPool, PoolAlert
from .selectors import FREE_CARD_SQL, free_cards, is_low, is_usable, with_stock
from .tasks import (
    DELIVERIES_SCHEDULED_KEY, DELIVERY_MAX_RETRIES, check_pool_level_later, deliver_gift_card, dispatch_deliveries,
    notify_low_stock, pool_check_key,
)

ASSIGN_CHUNK = 5000
# A burst of claims leads to one stock check per pool, this many seconds after the first claim.
POOL_CHECK_DELAY_SECONDS = 10
# Cards handed to delivery tasks per transaction of dispatch_deliveries (and per statement of the sweeper).
DISPATCH_CHUNK = 500
# A wake-up lost with the broker is made up by the minutely run; the key must not outlive that much.
DELIVERIES_SCHEDULED_TIMEOUT = 60
EXPIRY_CHUNK = 1000

AVAILABLE, CLAIMED = sql_literal(GiftCardStatus.AVAILABLE), sql_literal(GiftCardStatus.CLAIMED)
PENDING, QUEUED = sql_literal(DeliveryStatus.PENDING), sql_literal(DeliveryStatus.QUEUED)
SENDING, UNCONFIRMED = sql_literal(DeliveryStatus.SENDING), sql_literal(DeliveryStatus.UNCONFIRMED)


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
            after_commit(lambda: notify_low_stock.delay(alert.pk))
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
# leaves the cards pending, dispatched again later, and a second task for a card finds it taken.
TAKE_PENDING_SQL = f"""
UPDATE gift_cards SET delivery_status = {QUEUED}, queued_at = %s
WHERE id IN (SELECT id FROM gift_cards WHERE delivery_status = {PENDING} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def dispatch_pending_deliveries():
    """Queues one delivery task per claimed card waiting for one; returns how many were queued."""
    dispatched = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(TAKE_PENDING_SQL, [timezone.now(), DISPATCH_CHUNK])
            card_ids = sorted(card_id for (card_id,) in cursor.fetchall())
            for card_id in card_ids:
                deliver_gift_card.delay(card_id)
        dispatched += len(card_ids)
        if len(card_ids) < DISPATCH_CHUNK:
            return dispatched


# Queued cards whose task is overdue (its message was lost with the broker, or sits unacked with a killed
# worker until the broker's visibility timeout): back to the outbox. If the old message does turn up, its
# task finds the card taken or sent and does nothing.
REQUEUE_OVERDUE_SQL = f"""
UPDATE gift_cards SET delivery_status = {PENDING}, queued_at = NULL
WHERE id IN (SELECT id FROM gift_cards WHERE delivery_status = {QUEUED} AND queued_at < %(overdue)s
             ORDER BY id LIMIT %(chunk)s FOR UPDATE SKIP LOCKED)
"""
# Sends that began and never reported back: their worker died during the provider call, so the code may have
# gone out. They wait for staff (settle_unconfirmed_delivery) instead of being sent again.
FLAG_UNCONFIRMED_SQL = f"""
WITH flagged AS (
    UPDATE gift_cards SET delivery_status = {UNCONFIRMED}
    WHERE id IN (SELECT id FROM gift_cards WHERE delivery_status = {SENDING} AND delivery_started_at < %(overdue)s
                 ORDER BY id LIMIT %(chunk)s FOR UPDATE SKIP LOCKED)
    RETURNING id, status, recipient_id
)
{card_log.insert_sql(source="flagged", action=GiftCardAction.DELIVERY_UNCONFIRMED, from_status="status",
                     to_status="status")}
"""


@dataclass
class SweepResult:
    requeued: int
    unconfirmed: int


def _run_in_chunks(statement, params):
    done = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, {**params, "chunk": DISPATCH_CHUNK})
            count = cursor.rowcount
        done += count
        if count < DISPATCH_CHUNK:
            return done


def requeue_after_seconds():
    """How late a queued card's task must be before the card goes back to the outbox. While delivery messages wait
    in the broker, a late task is more likely waiting its turn than lost: every card requeued then would add a
    message to the backlog every sweep, so only cards older than the broker's redelivery wait are."""
    if message_counts([queue_of(deliver_gift_card)])[queue_of(deliver_gift_card)]:
        return settings.GIFT_CARD_DELIVERY_REQUEUE_BACKLOGGED_SECONDS
    return settings.GIFT_CARD_DELIVERY_REQUEUE_SECONDS


def sweep_deliveries(*, now=None):
    """The outbox's way out after a crash: overdue queued cards go back to pending (the caller dispatches them
    again), sends that never finished are flagged unconfirmed for staff."""
    now = now or timezone.now()
    requeued = _run_in_chunks(REQUEUE_OVERDUE_SQL, {"overdue": now - timedelta(seconds=requeue_after_seconds())})
    unconfirmed = _run_in_chunks(FLAG_UNCONFIRMED_SQL, {
        "overdue": now - timedelta(seconds=settings.GIFT_CARD_DELIVERY_SEND_TIMEOUT_SECONDS),
        **card_log.params(at=now, reason="the send never reported back: check with the provider before resending"),
    })
    return SweepResult(requeued=requeued, unconfirmed=unconfirmed)


# --- Delivery bookkeeping (the sending itself is in delivery.py) -----------------------------

# A send that began: its task reports back even after the sweeper flagged it (the worker was only slow).
IN_FLIGHT = (DeliveryStatus.SENDING, DeliveryStatus.UNCONFIRMED)


def _still_this_send(card, started_at):
    """Whether `card` is still in the send that began at `started_at` (the attempt's token): not settled by staff,
    and not sent again since."""
    return card.delivery_status in IN_FLIGHT and card.delivery_started_at == started_at


def _locked_card(card_id):
    return GiftCard.objects.select_for_update(of=("self",)).select_related("pool__client", "recipient").get(pk=card_id)


def begin_delivery(*, card_id):
    """Takes a claimed card for sending and commits that (`sending`, the time, one more attempt) before any
    provider is called, so no later task sends it again whatever becomes of this one.

    Returns the card (with its pool, client and recipient), or None when it is not to be sent: sent already,
    voided, redeemed, or another task's send is under way or unconfirmed."""
    with transaction.atomic():
        card = _locked_card(card_id)
        if card.delivery_status not in AWAITING_DELIVERY:
            return None
        if card.status != GiftCardStatus.CLAIMED:  # voided or spent while it waited: out of the outbox for good
            card.delivery_status, card.queued_at = DeliveryStatus.NOT_SENT, None
            card.save(update_fields=["delivery_status", "queued_at"])
            return None
        card.delivery_status, card.delivery_started_at, card.queued_at = (
            DeliveryStatus.SENDING, timezone.now(), None)
        card.delivery_attempts += 1
        card.save(update_fields=["delivery_status", "delivery_started_at", "queued_at", "delivery_attempts"])
    return card


def _record_sent(card, *, channel, reason, request=None):
    previous = card.status
    card.delivery_status = DeliveryStatus.SENT
    fields = ["delivery_status", "delivery_error"]
    if previous == GiftCardStatus.CLAIMED:
        card.status, card.delivered_at = GiftCardStatus.DELIVERED, timezone.now()
        fields += ["status", "delivered_at"]
        analytics.record_event(
            event_type=EventType.GIFT_CARD_DELIVERED, campaign_id=card.recipient.campaign_id,
            recipient_id=card.recipient_id, source=EventSource.API, payload={"card": card.pk, "channel": channel},
        )
        webhooks.publish(client_id=card.pool.client_id, event_type=WebhookEvent.GIFT_CARD_DELIVERED, data={
            "gift_card_id": card.pk, "pool_id": card.pool_id, "recipient_id": card.recipient_id,
            "campaign_id": card.recipient.campaign_id, "channels": channel, "delivered_at": card.delivered_at,
        }, occurred_at=card.delivered_at)
    card.save(update_fields=fields)
    card_log.write(card, GiftCardAction.DELIVERED, previous, request=request, reason=reason)


def record_delivery(*, card_id, started_at, channels, error=""):
    """The provider took the card by `channels` ("email+sms"; "" when the recipient has neither: undeliverable)
    in the send begun at `started_at`. `error` says what failed on a channel that did not get through while
    another did."""
    with transaction.atomic():
        card = _locked_card(card_id)
        if not _still_this_send(card, started_at):
            return card
        card.delivery_error = error[:500]
        if not channels:
            card.delivery_status = DeliveryStatus.UNDELIVERABLE
            card.save(update_fields=["delivery_status", "delivery_error"])
            return card
        _record_sent(card, channel=channels, reason=f"by {channels}")
    return card


def record_delivery_failure(*, card_id, started_at, error):
    """The provider refused the send begun at `started_at` (nothing went out). Returns the seconds until the
    retry, or None when that was the last attempt (the card is then failed for good) or the send is no longer
    the card's current one."""
    with transaction.atomic():
        card = _locked_card(card_id)
        if not _still_this_send(card, started_at):
            return None
        card.delivery_error = error[:500]
        retry_in = None
        if card.delivery_attempts > DELIVERY_MAX_RETRIES:
            card.delivery_status = DeliveryStatus.FAILED
        else:
            retry_in = min(3600, 30 * 2 ** (card.delivery_attempts - 1))
            card.delivery_status = DeliveryStatus.QUEUED
            card.queued_at = timezone.now() + timedelta(seconds=retry_in)  # when the retry is due
        card.save(update_fields=["delivery_error", "delivery_status", "queued_at"])
        if retry_in is None:
            card_log.write(card, GiftCardAction.DELIVERY_FAILED, card.status, reason=error)
    return retry_in


def settle_unconfirmed_delivery(*, card, arrived, reason, request=None):
    """Staff checked an unconfirmed send (the provider's log, or the recipient). `arrived`: it got through and
    is recorded as sent; otherwise the card goes back to the outbox and is sent again."""
    with transaction.atomic():
        card = _locked_card(card.pk)
        if card.delivery_status != DeliveryStatus.UNCONFIRMED:
            raise DeliveryNotUnconfirmed()
        if not arrived and card.status != GiftCardStatus.CLAIMED:
            raise DeliveryNotResendable(f"A {card.get_status_display().lower()} card is not sent again.")
        if arrived:
            _record_sent(card, channel="confirmed by staff", reason=reason, request=request)
        else:
            card.delivery_status = DeliveryStatus.PENDING
            card.save(update_fields=["delivery_status"])
            card_log.write(card, GiftCardAction.DELIVERY_RESENT, card.status, request=request, reason=reason)
            after_commit(schedule_deliveries)
        record_audit(action=AuditAction.TRANSITION, obj=card, client=card.pool.client, request=request,
                     changes={"delivery_status": [DeliveryStatus.UNCONFIRMED, card.delivery_status],
                              "reason": reason})
    return card


# --- Bulk assignment --------------------------------------------------------------------------

# One chunk: lock free cards and card-less recipients (skipping rows another assignment holds), pair them
# one-to-one by rank, and write both sides and the log in the same statement.
ASSIGN_SQL = f"""
WITH cards AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
        SELECT id FROM gift_cards
        WHERE pool_id = %(pool)s AND {FREE_CARD_SQL}
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
    UPDATE gift_cards SET recipient_id = pairs.recipient_id, assigned_at = %(log_at)s
    FROM pairs WHERE gift_cards.id = pairs.card_id
    RETURNING gift_cards.id, gift_cards.recipient_id
), assigned_people AS (
    UPDATE recipients SET gift_card_id = pairs.card_id, updated_at = %(log_at)s
    FROM pairs WHERE recipients.id = pairs.recipient_id
    RETURNING recipients.id
)
{card_log.insert_sql(source="assigned_cards", action=GiftCardAction.ASSIGNED, from_status=GiftCardStatus.AVAILABLE,
                     to_status=GiftCardStatus.AVAILABLE)}
"""
# Taken by each chunk: a campaign completed or cancelled meanwhile stops the assignment, and its transition
# (FOR UPDATE) waits for the chunk in flight.
CAMPAIGN_STATUS_SQL = "SELECT status FROM campaigns WHERE id = %s FOR SHARE"


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
    # The campaign has no reward pool yet: the assignment makes this pool its reward, or nobody could claim.
    sets_reward_pool: bool


def _check_assignable(pool, campaign):
    if pool.client_id != campaign.client_id:
        raise PoolMismatch("The pool and the campaign belong to different clients.", field="campaign")
    if campaign.status in CLOSED_STATUSES:
        raise CampaignClosed()


def assignment_preview(*, pool, campaign):
    """How many cards `assign_cards(pool=pool, campaign=campaign)` would take, who would still go without, and
    which other live campaigns draw on the same pool. Raises what assign_cards raises."""
    _check_assignable(pool, campaign)
    free = free_cards(pool, timezone.localdate()).count()
    waiting = Recipient.objects.filter(campaign=campaign, gift_card__isnull=True).count()
    taken = min(free, waiting)
    sharing = (Campaign.objects.filter(gift_card_pool=pool).exclude(pk=campaign.pk)
               .exclude(status__in=CLOSED_STATUSES).order_by("name", "pk"))
    return AssignmentPreview(
        free_cards=free, recipients_without_card=waiting, cards_to_take=taken, shortfall=waiting - taken,
        live_campaigns_sharing_pool=[(other, free - taken) for other in sharing],
        sets_reward_pool=campaign.gift_card_pool_id is None,
    )


def _reward_from_pool_if_none(*, campaign, pool, request):
    """A campaign without a reward pool refuses every claim (NoRewardPool), assigned cards included: the pool its
    cards come from becomes its reward."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.gift_card_pool_id is not None:
            return
        locked.gift_card_pool = pool
        locked.save(update_fields=["gift_card_pool", "updated_at"])
        record_audit(action=AuditAction.UPDATE, obj=locked, client_id=locked.client_id, request=request,
                     changes={"gift_card_pool": [None, pool.pk]})
    campaign.gift_card_pool = pool


def assign_cards(*, pool, campaign, request=None, chunk_size=ASSIGN_CHUNK):
    """Gives every card-less recipient of `campaign` an available card of `pool`, set-based, chunk by chunk.

    Each chunk is its own short transaction. Returns how many were assigned and how many recipients are
    still without a card (the shortfall when the pool runs out). A completed or cancelled campaign is refused;
    one without a reward pool gets `pool` as its reward.
    """
    _check_assignable(pool, campaign)
    _reward_from_pool_if_none(campaign=campaign, pool=pool, request=request)
    actor_id, api_key_id = card_log.actor_ids(request)
    assigned = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CAMPAIGN_STATUS_SQL, [campaign.pk])
            if cursor.fetchone()[0] in CLOSED_STATUSES:
                if not assigned:
                    raise CampaignClosed()
                break
            now = timezone.now()
            cursor.execute(ASSIGN_SQL, {
                "pool": pool.pk, "campaign": campaign.pk, "chunk": chunk_size, "today": timezone.localdate(now),
                **card_log.params(at=now, actor_id=actor_id, api_key_id=api_key_id),
            })
            done = cursor.rowcount
        assigned += done
        if done < chunk_size:
            break
    shortfall = Recipient.objects.filter(campaign=campaign, gift_card__isnull=True).count()
    record_audit(action=AuditAction.UPDATE, obj=pool, client=pool.client, request=request,
                 changes={"assigned_to_campaign": campaign.pk, "assigned": assigned, "shortfall": shortfall})
    after_commit(lambda: check_pool_level_later.delay(pool.pk))
    return AssignmentResult(assigned=assigned, shortfall=shortfall)


# --- Expiry -----------------------------------------------------------------------------------

# Cards past their date that nobody claimed leave the stock for good; a recipient who was assigned one is
# free to claim another. Claimed cards keep their status: their recipient had the reward. The caller holds
# the cards' locks (and their recipients').
EXPIRE_SQL = f"""
WITH expired AS (
    UPDATE gift_cards SET status = {sql_literal(GiftCardStatus.EXPIRED)}
    WHERE id = ANY(%(cards)s) AND status = {AVAILABLE} RETURNING id, recipient_id
), released AS (
    UPDATE recipients r SET gift_card_id = NULL, updated_at = %(log_at)s
    FROM expired WHERE r.id = expired.recipient_id AND r.gift_card_id = expired.id
)
{card_log.insert_sql(source="expired", action=GiftCardAction.EXPIRED, from_status=GiftCardStatus.AVAILABLE,
                     to_status=GiftCardStatus.EXPIRED)}
"""
EXPIRING_SQL = f"""
SELECT id, recipient_id FROM gift_cards
WHERE status = {AVAILABLE} AND expires_on < %(today)s AND id > %(after)s ORDER BY id LIMIT %(chunk)s
"""
# Recipient before card, as a claim locks them; rows a claim holds are skipped and expire on the next run.
LOCK_RECIPIENTS_SQL = "SELECT id FROM recipients WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED"
LOCK_EXPIRING_SQL = f"""
SELECT id FROM gift_cards
WHERE id = ANY(%(cards)s) AND status = {AVAILABLE} AND (recipient_id IS NULL OR recipient_id = ANY(%(recipients)s))
ORDER BY id FOR UPDATE SKIP LOCKED
"""
EXPIRY_REASON = "past its expiry date"


def _expire(cursor, card_ids, now):
    cursor.execute(EXPIRE_SQL, {"cards": card_ids, **card_log.params(at=now, reason=EXPIRY_REASON)})


def expire_cards(*, now=None):
    """Expires every unclaimed card whose expiry date has passed (beat runs it daily); returns how many."""
    now = now or timezone.now()
    today, after, expired = timezone.localdate(now), 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(EXPIRING_SQL, {"today": today, "after": after, "chunk": EXPIRY_CHUNK})
            rows = cursor.fetchall()
            if not rows:
                return expired
            after = rows[-1][0]
            cursor.execute(LOCK_RECIPIENTS_SQL, [[recipient for _, recipient in rows if recipient is not None]])
            recipients = [recipient for (recipient,) in cursor.fetchall()]
            cursor.execute(LOCK_EXPIRING_SQL, {"cards": [card for card, _ in rows], "recipients": recipients})
            card_ids = [card for (card,) in cursor.fetchall()]
            if card_ids:
                _expire(cursor, card_ids, now)
            expired += len(card_ids)
        if len(rows) < EXPIRY_CHUNK:
            return expired


# --- Redemption -------------------------------------------------------------------------------

@dataclass
class Redemption:
    card: GiftCard
    recipient: Recipient
    created: bool  # False when the recipient already had this card: the request was a repeat

    @property
    def code(self):
        return decrypt_code(self.card.code_encrypted)


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
CARD_FIELDS = ("id", "pool_id", "status", "recipient_id", "last4", "code_encrypted", "assigned_at", "claimed_at",
               "expires_on")
POOL_FIELDS = ("id", "client_id", "name", "brand", "denomination", "currency")
CARD_AND_POOL = """
g.id, g.pool_id, g.status, g.recipient_id, g.last4, g.code_encrypted, g.assigned_at, g.claimed_at, g.expires_on,
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
PICK_FREE = f"""
SELECT id FROM gift_cards
WHERE pool_id BETWEEN %(pool)s AND %(pool)s AND {FREE_CARD_SQL}
ORDER BY pool_id, id LIMIT 1 FOR UPDATE SKIP LOCKED
"""
# Claims, logs and hands over the card unless the recipient claimed one within the cooldown (none: no
# cooldown); always returns one row: the last claim's time and, when the claim happened, the card and its pool.
CLAIM_SQL = f"""
WITH last_claim AS (
    SELECT max(claimed_at) AS at FROM gift_cards WHERE recipient_id = %(recipient)s
), picked AS ({{pick}}
), claimed AS (
    UPDATE gift_cards g
    SET status = {CLAIMED}, recipient_id = %(recipient)s, claimed_at = %(log_at)s, delivery_status = {PENDING},
        assigned_at = coalesce(g.assigned_at, %(log_at)s)
    FROM picked, last_claim
    WHERE g.id = picked.id AND (%(cooldown)s::interval IS NULL OR last_claim.at IS NULL
                                OR last_claim.at <= %(log_at)s - %(cooldown)s::interval)
    RETURNING g.*
), logged AS (
    {card_log.insert_sql(source="claimed", action=GiftCardAction.CLAIMED, from_status=GiftCardStatus.AVAILABLE,
                         to_status=GiftCardStatus.CLAIMED, recipient="%(recipient)s")}
), holding AS (
    UPDATE recipients SET gift_card_id = claimed.id, status = {sql_literal(RecipientStatus.REDEEMED)},
        updated_at = %(log_at)s
    FROM claimed WHERE recipients.id = %(recipient)s
)
SELECT last_claim.at, {CARD_AND_POOL}
FROM last_claim LEFT JOIN claimed g ON true LEFT JOIN gift_card_pools p ON p.id = g.pool_id
"""
CLAIM_HELD_SQL, CLAIM_FREE_SQL = CLAIM_SQL.format(pick=PICK_HELD), CLAIM_SQL.format(pick=PICK_FREE)
EVENT_SOURCES = {RedemptionChannel.AGENT: EventSource.CALL, RedemptionChannel.API: EventSource.API,
                 RedemptionChannel.STAFF: EventSource.STAFF}


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


def _claim(cursor, *, recipient, held_card_id, pool_id, client_id, channel, cooldown, request=None, actor=None,
           replaces=None):
    """The one claim path (redemption, agents, staff reissue): claims the recipient's own available card
    (`held_card_id`) or the pool's first free one, marks the recipient redeemed, writes the card log, the
    claim event and the audit row, and wakes delivery and the stock check after commit.

    The caller holds the recipient's lock. `cooldown` (a timedelta, or None for none) is checked in the claim's
    own statement. Raises RedemptionCooldown or PoolExhausted."""
    now = timezone.now()
    actor_id, api_key_id = card_log.actor_ids(request, actor)
    reason = f"channel: {channel}" + (f", replaces card {replaces}" if replaces else "")
    cursor.execute(CLAIM_HELD_SQL if held_card_id else CLAIM_FREE_SQL, {
        "recipient": recipient.pk, "held": held_card_id, "pool": pool_id, "today": timezone.localdate(now),
        "cooldown": cooldown, **card_log.params(at=now, reason=reason, actor_id=actor_id, api_key_id=api_key_id),
    })
    row = cursor.fetchone()
    last_claim, claimed = row[0], row[1] is not None
    if not claimed:
        if cooldown is not None and last_claim is not None and now - last_claim < cooldown:
            wait = cooldown - (now - last_claim)
            raise RedemptionCooldown(retry_after=max(1, int(wait.total_seconds()) + 1))
        raise PoolExhausted()
    card = _card_from_row(row[1:])
    recipient.gift_card, recipient.status = card, RecipientStatus.REDEEMED
    analytics.record_event(
        event_type=EventType.GIFT_CARD_CLAIMED, campaign_id=recipient.campaign_id, recipient_id=recipient.pk,
        source=EVENT_SOURCES.get(channel, EventSource.PURL),
        payload={"card": card.pk, "pool": card.pool_id, "channel": channel,
                 **({"replaces": replaces} if replaces else {})},
        count_later=True,
    )
    webhooks.publish(client_id=client_id, event_type=WebhookEvent.GIFT_CARD_CLAIMED, data={
        "gift_card_id": card.pk, "pool_id": card.pool_id, "recipient_id": recipient.pk,
        "campaign_id": recipient.campaign_id, "channel": channel, "claimed_at": card.claimed_at,
        **({"replaces_gift_card_id": replaces} if replaces else {}),
    }, occurred_at=card.claimed_at)
    if actor is not None or request is not None:
        record_audit(action=AuditAction.TRANSITION, obj=card, client_id=client_id, request=request, actor=actor,
                     changes={"status": [GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED],
                              "recipient": recipient.pk, **({"replaces": replaces} if replaces else {})})
    after_commit(schedule_deliveries)
    after_commit(lambda: schedule_pool_check(card.pool_id))
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
        if held is not None and not is_usable(held, timezone.localdate()):
            _expire(cursor, [held.pk], timezone.now())  # the daily run has not got to it: a free card instead
            held = None
        card = _claim(cursor, recipient=recipient, held_card_id=held.pk if held else None, pool_id=pool_id,
                      client_id=client_id, channel=channel, request=request, actor=actor,
                      cooldown=timedelta(seconds=settings.REDEMPTION_COOLDOWN_SECONDS))
    return Redemption(card=card, recipient=recipient, created=True)


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
    card_log.write(card, GiftCardAction.VOIDED, previous, request=request, reason=reason)
    record_audit(action=AuditAction.TRANSITION, obj=card, client=card.pool.client, request=request,
                 changes={"status": [previous, GiftCardStatus.VOID], "reason": reason})
    return card


def reissue_card(*, card, reason, request=None):
    """Voids a claimed or delivered `card` and gives its recipient a fresh one from the same pool, delivered again.

    Staff replace a card the recipient could not use: no cooldown (the recipient did not ask twice), and the
    campaign may have ended since. Otherwise the same claim as a redemption."""
    with transaction.atomic(), prepared_cursor() as cursor:
        recipient = Recipient.all_objects.select_for_update(no_key=True).get(pk=card.recipient_id)
        card = GiftCard.objects.select_related("pool").get(pk=card.pk)
        if card.status not in (GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED):
            raise CardNotReissuable()
        void_card(card=card, reason=reason, request=request)
        replacement = _claim(cursor, recipient=recipient, held_card_id=None, pool_id=card.pool_id,
                             client_id=card.pool.client_id, channel=RedemptionChannel.STAFF, cooldown=None,
                             request=request, replaces=card.pk)
    return replacement


def mark_redeemed(*, card, redeemed_at=None, request=None):
    """The brand confirmed that the card was spent (at `redeemed_at`, default now). Saying it again changes
    nothing. A card still waiting for delivery leaves the outbox: its code was used already."""
    now = timezone.now()
    with transaction.atomic():
        card = _locked_card(card.pk)
        if card.status == GiftCardStatus.REDEEMED:
            return card
        if card.status not in REDEEMABLE_STATUSES:
            raise CardNotRedeemable(f"A {card.get_status_display().lower()} card cannot be redeemed: only a claimed "
                                    "or delivered one.")
        redeemed_at = redeemed_at or now
        if not card.claimed_at <= redeemed_at <= now:
            raise BadRedemptionTime()
        previous = card.status
        card.status, card.redeemed_at = GiftCardStatus.REDEEMED, redeemed_at
        if card.delivery_status in AWAITING_DELIVERY:
            card.delivery_status = DeliveryStatus.NOT_SENT
        card.save(update_fields=["status", "redeemed_at", "delivery_status"])
        card_log.write(card, GiftCardAction.REDEEMED, previous, request=request, reason="confirmed spent")
        record_audit(action=AuditAction.TRANSITION, obj=card, client=card.pool.client, request=request,
                     changes={"status": [previous, GiftCardStatus.REDEEMED], "redeemed_at": redeemed_at.isoformat()})
        analytics.record_event(
            event_type=EventType.GIFT_CARD_REDEEMED, campaign_id=card.recipient.campaign_id,
            recipient_id=card.recipient_id, source=event_source(request), occurred_at=redeemed_at,
            payload={"card": card.pk, "pool": card.pool_id},
        )
    return card


def reveal_code(*, card, request):
    """The full code, for staff, recorded in both the card log and the audit log."""
    card_log.write(card, GiftCardAction.REVEALED, card.status, request=request, reason="revealed to staff")
    record_audit(action=AuditAction.REVEAL, obj=card, client=card.pool.client, request=request,
                 changes={"last4": card.last4})
    return decrypt_code(card.code_encrypted)
