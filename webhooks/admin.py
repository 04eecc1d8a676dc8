import json

from django import forms
from django.contrib import admin, messages

from mobul.admin import ReadOnlyAdminMixin, apply_to_each

from . import services
from .choices import EventType
from .models import WebhookDelivery, WebhookEndpoint, WebhookMessage


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["client", "url", "description", "event_types", "is_enabled"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The signing secret is never shown here, only its last characters; a new one is shown once (create, rotate)."""

    form = WebhookEndpointForm
    list_display = ["url", "client", "description", "is_enabled", "disabled_reason", "consecutive_failures",
                    "secret_hint", "created_at"]
    list_filter = ["is_enabled", "disabled_reason", "client"]
    search_fields = ["url", "description", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    readonly_fields = ["secret_hint", "disabled_reason", "disabled_at", "consecutive_failures", "failing_since",
                       "previous_secret_expires_at", "created_at", "updated_at"]
    actions = ["rotate_secrets"]

    def get_readonly_fields(self, request, obj=None):
        return ["client", *self.readonly_fields] if obj else []

    def get_fields(self, request, obj=None):
        editable = ["url", "description", "event_types", "is_enabled"]
        return ["client", *editable] if obj is None else [*editable, "client", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("url", "description", "event_types")}
        if change:
            services.update_endpoint(endpoint=obj, request=request, is_enabled=form.cleaned_data["is_enabled"],
                                     **data)
            return
        endpoint, secret = services.create_endpoint(client=form.cleaned_data["client"], request=request, **data)
        obj.pk, obj._state.adding = endpoint.pk, False
        messages.warning(request, f"Copy the signing secret now, it will not be shown again: {secret}")

    def delete_model(self, request, obj):
        services.delete_endpoint(endpoint=obj, request=request)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset.order_by("pk"):
            services.delete_endpoint(endpoint=endpoint, request=request)

    @admin.action(description="Rotate the signing secret (the old one signs for a day more)")
    def rotate_secrets(self, request, queryset):
        for endpoint in queryset.order_by("pk"):
            endpoint, secret = services.rotate_secret(endpoint=endpoint, request=request)
            messages.warning(request, f"New secret of {endpoint.url}, shown once: {secret}")


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["attempted_at", "succeeded", "status_code", "latency_ms", "response_snippet", "error", "is_replay"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-attempted_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["webhook_id", "event_type", "endpoint", "client", "status", "attempts", "next_attempt_at",
                    "last_status_code", "created_at"]
    list_filter = ["status", "event_type", "client"]
    search_fields = ["=uuid", "endpoint__url"]
    list_select_related = ["endpoint", "client"]
    show_full_result_count = False
    exclude = ["body"]
    readonly_fields = ["webhook_id", "payload", *[field.name for field in WebhookMessage._meta.fields
                                                  if field.name != "body"]]
    inlines = [WebhookDeliveryInline]
    actions = ["replay_messages"]

    @admin.display(description="Payload")
    def payload(self, message):
        return json.dumps(json.loads(message.body), indent=2)

    @admin.action(description="Replay: send the selected messages again now")
    def replay_messages(self, request, queryset):
        replayed = apply_to_each(self, request, queryset,
                                 lambda message: services.replay(message=message, request=request),
                                 name=lambda message: message.webhook_id)
        if replayed:
            self.message_user(request, f"{len(replayed)} message(s) are being sent again.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["attempted_at", "message", "succeeded", "status_code", "latency_ms", "error", "is_replay"]
    list_filter = ["succeeded", "is_replay"]
    search_fields = ["=message__uuid"]
    list_select_related = ["message"]
    show_full_result_count = False
