from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.access import clients_for, principal_of
from accounts.api.serializers import TenantClientField, TenantOwnedSerializer
from accounts.choices import Capability
from campaigns.choices import ImportErrorPolicy
from campaigns.models import Campaign

from ..models import GiftCard, GiftCardPool
from ..selectors import is_low

STOCK_FIELDS = ("total", "available", "assigned", "claimed", "void")


class GiftCardPoolSerializer(TenantOwnedSerializer):
    client = TenantClientField(capability=Capability.MANAGE_GIFT_CARDS, required=False)
    stock = serializers.SerializerMethodField()
    low_stock = serializers.SerializerMethodField()

    class Meta:
        model = GiftCardPool
        fields = ["id", "client", "name", "brand", "denomination", "currency", "low_stock_threshold_percent",
                  "stock", "low_stock", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_stock(self, pool) -> dict:
        return {name: getattr(pool, name) for name in STOCK_FIELDS}

    def get_low_stock(self, pool) -> bool:
        return is_low(pool)

    def validate_currency(self, value):
        if len(value) != 3 or not value.isalpha():
            raise serializers.ValidationError("Use a three-letter ISO currency code, e.g. USD.")
        return value.upper()

    def validate_denomination(self, value):
        if value <= 0:
            raise serializers.ValidationError("The denomination must be more than zero.")
        return value

    def validate_low_stock_threshold_percent(self, value):
        if not 0 <= value <= 100:
            raise serializers.ValidationError("A percentage between 0 and 100.")
        return value


class GiftCardSerializer(serializers.ModelSerializer):
    """Never the code: last 4 characters only."""

    campaign = serializers.IntegerField(source="recipient.campaign_id", read_only=True, allow_null=True)

    class Meta:
        model = GiftCard
        fields = ["id", "pool", "last4", "status", "recipient", "campaign", "assigned_at", "claimed_at", "delivered_at",
                  "redeemed_at", "voided_at", "expires_on", "delivery_status", "delivery_attempts", "created_at"]
        read_only_fields = fields


class MarkRedeemedSerializer(serializers.Serializer):
    redeemed_at = serializers.DateTimeField(
        required=False, help_text="When the brand says the card was spent (ISO 8601; default: now). Not before "
                                  "the card was claimed, not in the future.")


class CardImportSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="CSV with a `code` column and optional `expires_on`.")
    on_error = serializers.ChoiceField(choices=ImportErrorPolicy.choices, default=ImportErrorPolicy.REJECT)


@extend_schema_field(OpenApiTypes.INT)
class ScopedCampaignField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return Campaign.objects.filter(
            client__in=clients_for(principal_of(self.context["request"]), Capability.MANAGE_GIFT_CARDS)
        )


class AssignSerializer(serializers.Serializer):
    campaign = ScopedCampaignField()


class AssignResultSerializer(serializers.Serializer):
    assigned = serializers.IntegerField()
    shortfall = serializers.IntegerField(help_text="Recipients of the campaign still without a card.")


class RedeemSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64, help_text="The recipient's redemption token (from their PURL).")


class RedeemResultSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The full gift-card code: shown only to its recipient.")
    last4 = serializers.CharField()
    brand = serializers.CharField()
    denomination = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.CharField()
    already_claimed = serializers.BooleanField()
