from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.access import clients_for, principal_of
from accounts.api.serializers import TenantClientField, TenantOwnedSerializer
from accounts.choices import Capability
from campaigns.models import Campaign

from ..models import CallSession, TrackingNumber


@extend_schema_field(OpenApiTypes.INT)
class ScopedCampaignField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return Campaign.objects.filter(
            client__in=clients_for(principal_of(self.context["request"]), Capability.MANAGE_CAMPAIGNS)
        )


class TrackingNumberSerializer(TenantOwnedSerializer):
    client = TenantClientField(capability=Capability.MANAGE_CAMPAIGNS, required=False)
    campaign = ScopedCampaignField()
    # Wider than the stored E.164 so any common way of writing a number is accepted and normalised.
    phone_number = serializers.CharField(max_length=32, help_text="The number printed on the mail piece. Any common "
                                                                  "format; stored as E.164.")
    forward_to = serializers.CharField(max_length=32, help_text="The client's line calls are put through to. Any "
                                                                "common format; stored as E.164.")

    class Meta:
        model = TrackingNumber
        fields = ["id", "client", "campaign", "phone_number", "forward_to", "record_calls", "consent_message",
                  "status", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # One active number at a time is checked by the model (TrackingNumber.clean), which names the field.
        validators = []

    def validate(self, attrs):
        attrs = super().validate(attrs)
        client = attrs.get("client") or getattr(self.instance, "client", None)
        campaign = attrs.get("campaign")
        if campaign is not None and client is not None and campaign.client_id != client.pk:
            raise serializers.ValidationError({"campaign": "The campaign belongs to another client."})
        return attrs


class CallSessionSerializer(serializers.ModelSerializer):
    tracking_phone_number = serializers.CharField(source="tracking_number.phone_number", read_only=True)
    has_recording = serializers.SerializerMethodField()

    class Meta:
        model = CallSession
        fields = ["id", "provider", "provider_call_id", "tracking_number", "tracking_phone_number", "campaign",
                  "caller_phone", "recipient", "match_method", "provider_status", "call_started_at",
                  "call_answered_at", "call_ended_at", "duration_seconds", "has_recording", "recording_status",
                  "recording_duration_seconds", "disposition", "agent", "notes", "gift_card", "created_at",
                  "updated_at"]
        read_only_fields = fields

    def get_has_recording(self, session) -> bool:
        """Whether GET .../recording/ gives a URL (a recording is stored and not archived)."""
        return bool(session.recording) and not session.recording_archived


class RecordingUrlSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Plays the recording; stops working after `expires_in` seconds.")
    expires_in = serializers.IntegerField()
