from django.db import models


class EventType(models.TextChoices):
    RECIPIENT_VISITED = "recipient.visited", "Recipient visited their page"
    RECIPIENT_SCANNED = "recipient.scanned", "Recipient scanned the QR code"
    CALL_COMPLETED = "call.completed", "Call completed"
    GIFT_CARD_CLAIMED = "gift_card.claimed", "Gift card claimed"
    GIFT_CARD_DELIVERED = "gift_card.delivered", "Gift card delivered"
    IMPORT_FINISHED = "import.finished", "Import finished"
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed", "Campaign status changed"
    PROOF_READY = "proof.ready", "Proof ready"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt, due at next_attempt_at
    DELIVERING = "delivering", "Delivering"  # a worker holds it until lease_expires_at
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # every attempt failed, or its endpoint was disabled


class DisabledReason(models.TextChoices):
    NONE = "", "Enabled"
    BY_USER = "by_user", "Disabled by the client"
    FAILING = "failing", "Disabled after repeated failures"
