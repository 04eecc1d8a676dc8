from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import ApiKey, AppendOnlyQuerySet, Client

from .choices import DeliveryStatus, GiftCardAction, GiftCardStatus, HELD_STATUSES, UNDELIVERED

# A log row's statuses: a card's, or none (an import has no "from").
LOG_STATUSES = ["", *GiftCardStatus.values]


class GiftCardPool(models.Model):
    """A client's stock of gift cards of one brand and denomination."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="gift_card_pools")
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=100)
    denomination = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    low_stock_threshold_percent = models.PositiveSmallIntegerField(
        default=10, help_text="Alert when the share of cards still available falls below this."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "gift_card_pools"
        ordering = ["name", "pk"]

    def __str__(self):
        return f"{self.name} ({self.brand} {self.denomination} {self.currency})"


class GiftCard(models.Model):
    """One card. The code is encrypted; `code_hash` finds it and keeps it unique; `last4` is for display."""

    pool = models.ForeignKey(GiftCardPool, on_delete=models.PROTECT, related_name="cards")
    code_encrypted = models.TextField()
    code_hash = models.CharField(max_length=64)
    last4 = models.CharField(max_length=4)
    status = models.CharField(max_length=16, choices=GiftCardStatus.choices, default=GiftCardStatus.AVAILABLE)
    recipient = models.ForeignKey("campaigns.Recipient", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="gift_cards")
    assigned_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    delivery_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.NOT_SENT)
    queued_at = models.DateTimeField(null=True, blank=True,
                                     help_text="While queued: when its delivery task is due (dispatch, or a retry).")
    delivery_started_at = models.DateTimeField(null=True, blank=True,
                                               help_text="When the last send began, before the provider was called.")
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_error = models.CharField(max_length=500, blank=True)
    import_job = models.ForeignKey("campaigns.ImportJob", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="gift_cards")
    created_at = models.DateTimeField(auto_now_add=True, db_default=models.functions.Now())

    class Meta:
        db_table = "gift_cards"
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["code_hash"], name="gift_cards_code_hash_key"),
            # No recipient ever holds two live cards; void and expired ones stay for history.
            models.UniqueConstraint(fields=["recipient"], condition=Q(status__in=HELD_STATUSES),
                                    name="gift_cards_one_per_recipient"),
            models.CheckConstraint(condition=Q(status__in=GiftCardStatus.values), name="gift_cards_status_valid"),
            models.CheckConstraint(condition=Q(delivery_status__in=DeliveryStatus.values),
                                   name="gift_cards_delivery_status_valid"),
        ]
        indexes = [
            models.Index(fields=["pool", "status"], condition=Q(status=GiftCardStatus.AVAILABLE),
                         name="idx_gift_cards_pool_status"),
            models.Index(fields=["code_hash"],
                         condition=Q(status__in=[GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED]),
                         name="idx_gift_cards_redemption"),
            # Free cards in claim order: without it, every claim walks past all the cards already taken.
            models.Index(fields=["pool", "id"], condition=Q(status=GiftCardStatus.AVAILABLE, recipient__isnull=True),
                         name="gift_cards_free_by_pool"),
            # The delivery outbox: claimed cards no delivery task holds yet.
            models.Index(fields=["id"], condition=Q(delivery_status=DeliveryStatus.PENDING),
                         name="gift_cards_delivery_pending"),
            # Claimed cards not known to be sent: the outbox alert's oldest, the sweeper's stale ones.
            models.Index(fields=["claimed_at"], condition=Q(delivery_status__in=UNDELIVERED),
                         name="gift_cards_undelivered"),
            # Unclaimed stock by expiry date, for the daily expiry run.
            models.Index(fields=["expires_on"], condition=Q(status=GiftCardStatus.AVAILABLE, expires_on__isnull=False),
                         name="gift_cards_expiring_stock"),
        ]

    def __str__(self):
        return f"…{self.last4} ({self.get_status_display()})"


class GiftCardLog(models.Model):
    """One row per card transition: who, what, when, for whom, why. Append-only (kept 7 years)."""

    card = models.ForeignKey(GiftCard, on_delete=models.DO_NOTHING, db_constraint=False, related_name="logs")
    action = models.CharField(max_length=20, choices=GiftCardAction.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    recipient_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                              blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
                                related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now(), db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "gift_card_logs"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=GiftCardAction.values), name="gift_card_logs_action_valid"),
            models.CheckConstraint(condition=Q(from_status__in=LOG_STATUSES, to_status__in=LOG_STATUSES),
                                   name="gift_card_logs_statuses_valid"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} card {self.card_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Gift-card log rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Gift-card log rows are append-only.")


class PoolAlert(models.Model):
    """A pool's available share fell below its threshold. One open alert per pool: once per crossing."""

    pool = models.ForeignKey(GiftCardPool, on_delete=models.CASCADE, related_name="alerts")
    available = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "gift_card_pool_alerts"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["pool"], condition=Q(resolved_at__isnull=True),
                                    name="gift_card_pool_alerts_one_open"),
        ]

    def __str__(self):
        return f"{self.pool}: {self.available}/{self.total} left"
