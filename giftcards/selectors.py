import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from campaigns.choices import RESPONDING_STATUSES
from mobul.db import sql_literal

from .choices import CLAIMED_STATUSES, UNDELIVERED, GiftCardStatus
from .crypto import decrypt_code
from .models import GiftCard

# A card that can still be handed out: in stock, nobody's, not past its expiry date (valid through that day).
# free_card_filter is its ORM twin; keep the two alike.
FREE_CARD_SQL = (f"status = {sql_literal(GiftCardStatus.AVAILABLE)} AND recipient_id IS NULL"
                 " AND (expires_on IS NULL OR expires_on >= %(today)s)")


def in_stock_filter(today, via=""):
    """Available cards not past their expiry date, reached through `via` (such as "cards__" from a pool).
    One past its date is out of stock already: services.expire_cards only writes that into its status."""
    return Q(**{f"{via}status": GiftCardStatus.AVAILABLE}) & (
        Q(**{f"{via}expires_on__isnull": True}) | Q(**{f"{via}expires_on__gte": today}))


def free_card_filter(today, via=""):
    """FREE_CARD_SQL as a Q: in stock and nobody's."""
    return in_stock_filter(today, via) & Q(**{f"{via}recipient__isnull": True})


def free_cards(pool, today):
    return GiftCard.objects.filter(free_card_filter(today), pool=pool)


def is_usable(card, today):
    """An available card still within its expiry date."""
    return card.status == GiftCardStatus.AVAILABLE and (card.expires_on is None or card.expires_on >= today)


def with_stock(pools):
    """Pools annotated with their card counts, in the same query, as of today: total is the cards in stock
    (available or assigned) and claimed."""
    today = timezone.localdate()
    in_stock = in_stock_filter(today, via="cards__")
    return pools.annotate(
        total=Count("cards", filter=in_stock | Q(cards__status__in=CLAIMED_STATUSES)),
        available=Count("cards", filter=free_card_filter(today, via="cards__")),
        assigned=Count("cards", filter=in_stock & Q(cards__recipient__isnull=False)),
        claimed=Count("cards", filter=Q(cards__status__in=CLAIMED_STATUSES)),
        void=Count("cards", filter=Q(cards__status=GiftCardStatus.VOID)),
    )


def is_low(pool):
    """Whether an annotated pool's available share is below its threshold."""
    return pool.total > 0 and pool.available * 100 < pool.total * pool.low_stock_threshold_percent


@dataclass(frozen=True)
class RewardOutlook:
    """What the recipient's own page may say about their gift card, and whether a claim now would succeed."""

    reward: tuple | None = None  # (card, full code) once they have claimed it: for the recipient's own eyes
    can_claim: bool = False
    no_card_left: bool = False  # claims are open, but neither a card of their own nor a free one is left
    wait_seconds: int = 0  # the cooldown after their last claim still runs this long


# The PURL page is a hot path: the recipient's last claim (for the cooldown) and whether the pool has a free
# card, in one round trip. The status is written in, not bound, so the free-card index's predicate applies.
OUTLOOK_SQL = f"""
SELECT (SELECT max(claimed_at) FROM gift_cards WHERE recipient_id = %(recipient)s),
       EXISTS (SELECT 1 FROM gift_cards WHERE pool_id = %(pool)s AND {FREE_CARD_SQL})
"""


def reward_outlook(recipient):
    """The recipient's reward as redemption (giftcards.services.redeem) would see it now: their claimed card, or
    whether a claim would get their own assigned card or a free one of the pool, or wait out the cooldown."""
    held = (GiftCard.objects.select_related("pool").filter(pk=recipient.gift_card_id).first()
            if recipient.gift_card_id else None)
    if held is not None and held.status in CLAIMED_STATUSES:
        return RewardOutlook(reward=(held, decrypt_code(held.code_encrypted)))
    campaign = recipient.campaign
    if campaign.status not in RESPONDING_STATUSES or campaign.gift_card_pool_id is None:
        return RewardOutlook()
    today = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(OUTLOOK_SQL, {"recipient": recipient.pk, "pool": campaign.gift_card_pool_id, "today": today})
        last_claim, free_card_left = cursor.fetchone()
    if not (free_card_left or (held is not None and is_usable(held, today))):
        return RewardOutlook(no_card_left=True)
    cooldown_ends = last_claim + timedelta(seconds=settings.REDEMPTION_COOLDOWN_SECONDS) if last_claim else None
    wait = math.ceil((cooldown_ends - timezone.now()).total_seconds()) if cooldown_ends else 0
    return RewardOutlook(can_claim=wait <= 0, wait_seconds=max(wait, 0))


def undelivered_minutes(now=None):
    """Minutes since the oldest claimed card not known to have reached its recipient was claimed (0: none).

    Counts cards in the outbox, with a delivery task, being sent, or unconfirmed and waiting for staff: a
    stuck outbox and a send staff must check both keep it growing."""
    oldest = GiftCard.objects.filter(status=GiftCardStatus.CLAIMED, delivery_status__in=UNDELIVERED).aggregate(
        oldest=Min("claimed_at"))["oldest"]
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds() / 60) if oldest else 0.0
