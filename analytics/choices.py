import re

from django.db import models


class EventType(models.TextChoices):
    MAIL_SENT = "mail_sent", "Mail sent"
    MAIL_DELIVERED = "mail_delivered", "Mail delivered"
    MAIL_RETURNED = "mail_returned", "Mail returned"
    PURL_VIEWED = "purl_viewed", "PURL viewed"
    QR_SCANNED = "qr_scanned", "QR code scanned"
    CALL_STARTED = "call_started", "Call started"
    CALL_COMPLETED = "call_completed", "Call completed"
    GIFT_CARD_CLAIMED = "gift_card_claimed", "Gift card claimed"
    GIFT_CARD_DELIVERED = "gift_card_delivered", "Gift card delivered"
    GIFT_CARD_REDEEMED = "gift_card_redeemed", "Gift card redeemed"
    CAMPAIGN_STATUS_CHANGED = "campaign_status_changed", "Campaign status changed"


# Django rebuilds `.values` on every access: hot paths check against these instead.
EVENT_TYPES = frozenset(EventType.values)

# Integrators record their own event types under this prefix, e.g. "custom.coupon_printed".
CUSTOM_EVENT_TYPE = re.compile(r"custom\.[a-z0-9_.]{1,50}")


class EventSource(models.TextChoices):
    MAIL = "mail", "Mail"
    PURL = "purl", "PURL"
    QR = "qr", "QR code"
    CALL = "call", "Call"
    API = "api", "API"
    STAFF = "staff", "Staff"


EVENT_SOURCES = frozenset(EventSource.values)


class FunnelStage(models.TextChoices):
    MAILED = "mailed", "Mailed"
    DELIVERED = "delivered", "Delivered"
    VISITED = "visited", "Visited"
    CALLED = "called", "Called"
    RESPONDED = "responded", "Responded"
    REDEEMED = "redeemed", "Redeemed"


# Which funnel stages an event puts its recipient in. "responded" is any first response.
STAGES_BY_EVENT_TYPE = {
    EventType.MAIL_SENT: (FunnelStage.MAILED,),
    EventType.MAIL_DELIVERED: (FunnelStage.DELIVERED,),
    EventType.PURL_VIEWED: (FunnelStage.VISITED, FunnelStage.RESPONDED),
    EventType.QR_SCANNED: (FunnelStage.VISITED, FunnelStage.RESPONDED),
    EventType.CALL_STARTED: (FunnelStage.CALLED, FunnelStage.RESPONDED),
    EventType.GIFT_CARD_CLAIMED: (FunnelStage.REDEEMED,),
}


class MailScanStatus(models.TextChoices):
    """What the print vendor's scan says happened to a mail piece."""

    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned to sender"
