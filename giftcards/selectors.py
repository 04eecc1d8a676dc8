from django.db.models import Count, Min, Q
from django.utils import timezone

from .choices import CLAIMED_STATUSES, UNDELIVERED, GiftCardStatus
from .crypto import decrypt_code
from .models import GiftCard


def with_stock(pools):
    """Pools annotated with their card counts, in the same query."""
    return pools.annotate(
        total=Count("cards", filter=~Q(cards__status__in=[GiftCardStatus.VOID, GiftCardStatus.EXPIRED])),
        available=Count("cards", filter=Q(cards__status=GiftCardStatus.AVAILABLE, cards__recipient__isnull=True)),
        assigned=Count("cards", filter=Q(cards__status=GiftCardStatus.AVAILABLE, cards__recipient__isnull=False)),
        claimed=Count("cards", filter=Q(cards__status__in=CLAIMED_STATUSES)),
        void=Count("cards", filter=Q(cards__status=GiftCardStatus.VOID)),
    )


def is_low(pool):
    """Whether an annotated pool's available share is below its threshold."""
    return pool.total > 0 and pool.available * 100 < pool.total * pool.low_stock_threshold_percent


def claimed_reward(recipient):
    """(card, full code) when the recipient has claimed their card, else None. For the recipient's own eyes."""
    card = (
        GiftCard.objects.select_related("pool").filter(pk=recipient.gift_card_id, status__in=CLAIMED_STATUSES).first()
        if recipient.gift_card_id else None
    )
    return (card, decrypt_code(card.code_encrypted)) if card else None


def undelivered_minutes(now=None):
    """Minutes since the oldest claimed card not known to have reached its recipient was claimed (0: none).

    Counts cards in the outbox, with a delivery task, being sent, or unconfirmed and waiting for staff: a
    stuck outbox and a send staff must check both keep it growing."""
    oldest = GiftCard.objects.filter(status=GiftCardStatus.CLAIMED, delivery_status__in=UNDELIVERED).aggregate(
        oldest=Min("claimed_at"))["oldest"]
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds() / 60) if oldest else 0.0
