from mobul.exceptions import Conflict, DomainError, NotFound
from mobul.ratelimit import wait_text


class UnknownToken(NotFound):
    code = "unknown_token"
    default_message = "This link or code is not valid."


class CampaignNotActive(Conflict):
    code = "campaign_not_active"
    default_message = "This campaign is not accepting redemptions right now."


class NoRewardPool(Conflict):
    code = "no_reward"
    default_message = "This campaign has no gift-card reward."


class PoolExhausted(Conflict):
    code = "pool_exhausted"
    default_message = "No gift card is left for you to claim."


class RedemptionCooldown(DomainError):
    code = "cooldown"
    status = 429

    def __init__(self, *, retry_after):
        super().__init__(f"Please wait {wait_text(retry_after)} before claiming another gift card.",
                         retry_after=retry_after)


class CardNotVoidable(Conflict):
    code = "card_not_voidable"


class PoolMismatch(Conflict):
    code = "pool_mismatch"


class CampaignClosed(Conflict):
    code = "campaign_closed"
    field = "campaign"
    default_message = "The campaign is completed or cancelled: its recipients cannot be given cards any more."


class CardNotReissuable(Conflict):
    code = "card_not_reissuable"
    default_message = ("Only a claimed or delivered card can be reissued. Void an unclaimed one: its recipient then "
                       "claims another.")


class CardNotRedeemable(Conflict):
    code = "card_not_redeemable"


class BadRedemptionTime(DomainError):
    code = "invalid"
    field = "redeemed_at"
    default_message = "A card is redeemed after it was claimed, and not in the future."


class DeliveryNotUnconfirmed(Conflict):
    code = "delivery_not_unconfirmed"
    default_message = "Only a card whose delivery is unconfirmed can be settled this way."


class DeliveryNotResendable(Conflict):
    code = "delivery_not_resendable"
