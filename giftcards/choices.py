from django.db import models


class GiftCardStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    REDEEMED = "redeemed", "Redeemed"
    VOID = "void", "Void"
    EXPIRED = "expired", "Expired"


# A card in one of these states belongs to its recipient; void and expired cards free the recipient.
HELD_STATUSES = (GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED, GiftCardStatus.REDEEMED)
# The recipient has their reward: asking again returns the same card.
CLAIMED_STATUSES = (GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED, GiftCardStatus.REDEEMED)


class GiftCardAction(models.TextChoices):
    IMPORTED = "imported", "Imported"
    ASSIGNED = "assigned", "Assigned"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    REDEEMED = "redeemed", "Redeemed"
    VOIDED = "voided", "Voided"
    EXPIRED = "expired", "Expired"
    REVEALED = "revealed", "Code revealed"


class DeliveryStatus(models.TextChoices):
    NOT_SENT = "not_sent", "Not sent"
    # Claimed, waiting for dispatch_deliveries to hand it to a delivery task: the card row is the outbox.
    PENDING = "pending", "Pending"
    # A delivery task holds it: queued, or waiting for a retry.
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    UNDELIVERABLE = "undeliverable", "No email or phone"


# Claimed cards whose sending is still to come: in the outbox, or held by a delivery task.
AWAITING_DELIVERY = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED)


class RedemptionChannel(models.TextChoices):
    WEB = "web", "Personal page"
    API = "api", "API"
    AGENT = "agent", "Call-center agent"
