from django.db import models


class GiftCardStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    # The brand confirmed the card was spent (staff or an integrator says so: services.mark_redeemed).
    REDEEMED = "redeemed", "Redeemed"
    VOID = "void", "Void"
    # Reached its expiry date before anyone claimed it: out of stock for good (services.expire_cards).
    EXPIRED = "expired", "Expired"


# A card in one of these states belongs to its recipient; void and expired cards free the recipient.
HELD_STATUSES = (GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED, GiftCardStatus.REDEEMED)
# The recipient has their reward: asking again returns the same card.
CLAIMED_STATUSES = (GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED, GiftCardStatus.REDEEMED)
# What the brand can confirm as spent: the recipient has the code.
REDEEMABLE_STATUSES = (GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED)


class GiftCardAction(models.TextChoices):
    IMPORTED = "imported", "Imported"
    ASSIGNED = "assigned", "Assigned"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    DELIVERY_UNCONFIRMED = "delivery_unconfirmed", "Delivery unconfirmed"
    DELIVERY_RESENT = "delivery_resent", "Sent again by staff"
    REDEEMED = "redeemed", "Redeemed"
    VOIDED = "voided", "Voided"
    EXPIRED = "expired", "Expired"
    REVEALED = "revealed", "Code revealed"


class DeliveryStatus(models.TextChoices):
    NOT_SENT = "not_sent", "Not sent"
    # Claimed, waiting for dispatch_deliveries to hand it to a delivery task: the card row is the outbox.
    PENDING = "pending", "Pending"
    # A delivery task holds it: queued, or waiting for a retry (queued_at: when that task is due).
    QUEUED = "queued", "Queued"
    # A task is sending it now (since delivery_started_at). Committed before the provider is called, so a
    # task that finds it here never sends again.
    SENDING = "sending", "Sending"
    # A send started and never reported back (its worker died): the code may have gone out. Never resent
    # blindly; staff check and settle it (services.settle_unconfirmed_delivery).
    UNCONFIRMED = "unconfirmed", "Unconfirmed: check before sending again"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    UNDELIVERABLE = "undeliverable", "No email or phone"


# Claimed cards whose sending is still to come: in the outbox, or held by a delivery task.
AWAITING_DELIVERY = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED)
# Claimed and not known to have reached the recipient: the age of the oldest is the outbox alert's figure.
UNDELIVERED = (*AWAITING_DELIVERY, DeliveryStatus.SENDING, DeliveryStatus.UNCONFIRMED)


class RedemptionChannel(models.TextChoices):
    WEB = "web", "Personal page"
    API = "api", "API"
    AGENT = "agent", "Call-center agent"
    # Staff replacing a card (services.reissue_card): not the recipient asking, so no cooldown.
    STAFF = "staff", "Staff reissue"
