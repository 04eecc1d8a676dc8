import json

from rest_framework import serializers

from accounts.api.serializers import TenantClientField, TenantOwnedSerializer
from accounts.choices import Capability

from ..choices import EventType
from ..models import WebhookDelivery, WebhookEndpoint, WebhookMessage


class WebhookEndpointSerializer(TenantOwnedSerializer):
    client = TenantClientField(capability=Capability.MANAGE_WEBHOOKS, required=False)
    url = serializers.CharField(max_length=2000, help_text="An https:// URL on the public internet.")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False,
                                        max_length=len(EventType.values))
    is_enabled = serializers.BooleanField(required=False)
    secret_hint = serializers.CharField(read_only=True, help_text="The end of the signing secret, to tell which.")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "client", "url", "description", "event_types", "is_enabled", "disabled_reason",
                  "disabled_at", "consecutive_failures", "failing_since", "secret_hint", "previous_secret_expires_at",
                  "created_at", "updated_at"]
        read_only_fields = ["disabled_reason", "disabled_at", "consecutive_failures", "failing_since",
                            "previous_secret_expires_at", "created_at", "updated_at"]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """The endpoint with its signing secret: answered only when the secret is made (create, rotate-secret)."""

    secret = serializers.CharField(read_only=True, help_text="Shown this once: whsec_ followed by base64.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "attempted_at", "succeeded", "status_code", "latency_ms", "response_snippet", "error",
                  "is_replay"]
        read_only_fields = fields


class WebhookMessageSerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(read_only=True, help_text="The webhook-id header: the same on every attempt.")
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookMessage
        fields = ["id", "webhook_id", "endpoint", "event_type", "event_id", "status", "attempts", "next_attempt_at",
                  "delivered_at", "last_status_code", "last_error", "created_at", "payload"]
        read_only_fields = fields

    def get_payload(self, message) -> dict:
        return json.loads(message.body)


class WebhookMessageDetailSerializer(WebhookMessageSerializer):
    deliveries = serializers.SerializerMethodField()

    class Meta(WebhookMessageSerializer.Meta):
        fields = [*WebhookMessageSerializer.Meta.fields, "deliveries"]

    def get_deliveries(self, message) -> WebhookDeliverySerializer(many=True):
        return WebhookDeliverySerializer(message.deliveries.all()[:50], many=True).data
