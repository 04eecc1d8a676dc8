from django.conf import settings
from rest_framework import serializers

from accounts.access import clients_for, principal_of
from accounts.api.serializers import TenantOwnedSerializer
from giftcards.models import GiftCardPool

from ..choices import CampaignStatus, ImportErrorPolicy
from ..imports import MAX_CUSTOM_COLUMNS, MAX_CUSTOM_VALUE_LENGTH
from ..models import Campaign, ImportJob, MailTemplate, Recipient
from ..services import allowed_transitions
from ..tokens import format_short_code


class MailTemplateSerializer(TenantOwnedSerializer):
    merge_fields = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = MailTemplate
        fields = ["id", "client", "name", "size", "front_html", "back_html", "merge_fields", "created_at",
                  "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class ScopedTemplateField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return MailTemplate.objects.filter(client__in=clients_for(principal_of(self.context["request"])))


class ScopedPoolField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return GiftCardPool.objects.filter(client__in=clients_for(principal_of(self.context["request"])))


class CampaignSerializer(TenantOwnedSerializer):
    template = ScopedTemplateField(required=False, allow_null=True)
    gift_card_pool = ScopedPoolField(required=False, allow_null=True)
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["id", "client", "name", "description", "offer", "template", "gift_card_pool", "status",
                  "status_changed_at",
                  "allowed_transitions", "mail_date", "cost", "created_at", "updated_at"]
        read_only_fields = ["status", "status_changed_at", "created_at", "updated_at"]

    def get_allowed_transitions(self, campaign) -> list[str]:
        return allowed_transitions(campaign)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        client = attrs.get("client") or getattr(self.instance, "client", None)
        for name in ("template", "gift_card_pool"):
            related = attrs.get(name)
            if related is not None and client is not None and related.client_id != client.pk:
                raise serializers.ValidationError({name: f"The {name.replace('_', ' ')} belongs to another client."})
        return attrs


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=CampaignStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class RecipientSerializer(serializers.ModelSerializer):
    purl = serializers.CharField(read_only=True)
    short_code = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        fields = ["id", "campaign", "first_name", "last_name", "company", "address1", "address2", "city", "state",
                  "postal_code", "country", "phone", "email", "external_id", "custom_fields", "status",
                  "redemption_token", "short_code", "purl", "import_job", "created_at", "updated_at"]
        read_only_fields = ["campaign", "status", "redemption_token", "import_job", "created_at", "updated_at"]
        extra_kwargs = {"phone": {"help_text": "Any common format; stored as E.164."}}

    def get_short_code(self, recipient) -> str:
        return format_short_code(recipient.short_code)

    def validate_custom_fields(self, value):
        # The same limits as extra CSV columns: flat text merge fields.
        if not isinstance(value, dict) or len(value) > MAX_CUSTOM_COLUMNS or not all(
            isinstance(key, str) and isinstance(item, str) and len(item) <= MAX_CUSTOM_VALUE_LENGTH
            for key, item in value.items()
        ):
            raise serializers.ValidationError(
                f"Use an object of at most {MAX_CUSTOM_COLUMNS} text values of up to {MAX_CUSTOM_VALUE_LENGTH} characters."
            )
        return value

    def validate(self, attrs):
        if not (attrs.get("first_name") or attrs.get("last_name") or attrs.get("company")):
            raise serializers.ValidationError({"last_name": "A name or a company is required."})
        return attrs


class RecipientImportSerializer(serializers.Serializer):
    # Empty files reach inspect_upload, which explains every unusable file the same way.
    file = serializers.FileField(allow_empty_file=True, help_text="CSV, UTF-8 (with or without BOM), header row first.")
    on_error = serializers.ChoiceField(choices=ImportErrorPolicy.choices, default=ImportErrorPolicy.REJECT)


class ImportJobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    error_report_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = ["id", "client", "campaign", "kind", "status", "on_error", "original_filename", "size_bytes",
                  "rows_total", "rows_done", "progress_percent", "rows_imported", "rows_invalid", "rows_duplicate",
                  "error_message", "error_report_url", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_error_report_url(self, job) -> str | None:
        if not job.error_report:
            return None
        return f"{settings.PUBLIC_BASE_URL}/api/v1/imports/{job.pk}/errors/"
