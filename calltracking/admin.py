from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from mobul.admin import IdSearchMixin, ReadOnlyAdminMixin

from . import services
from .choices import TrackingNumberStatus
from .models import CallSession, RecordingArchive, TrackingNumber
from .selectors import e164_or_blank


def _search_by_phone(queryset, field, search_term):
    """Exact matches on `field` for a phone number in any format; None when the term is not a phone number."""
    phone = e164_or_blank(search_term)
    return queryset.filter(**{field: phone}) if phone else None


class TrackingNumberAdminForm(forms.ModelForm):
    # Wider than the stored E.164 so staff can paste a number in any common format; the model normalises it.
    phone_number = forms.CharField(max_length=32, help_text=TrackingNumber._meta.get_field("phone_number").help_text)
    forward_to = forms.CharField(max_length=32, help_text=TrackingNumber._meta.get_field("forward_to").help_text)

    class Meta:
        model = TrackingNumber
        fields = ["client", "campaign", "phone_number", "forward_to", "record_calls", "consent_message", "status"]


@admin.register(TrackingNumber)
class TrackingNumberAdmin(admin.ModelAdmin):
    form = TrackingNumberAdminForm
    list_display = ["phone_number", "campaign", "client", "forward_to", "record_calls", "status", "created_at"]
    list_filter = ["status", "record_calls", "client"]
    search_fields = ["campaign__name"]
    search_help_text = "A phone number in any format, or a campaign name."
    list_select_related = ["campaign", "client"]
    autocomplete_fields = ["client", "campaign"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["release"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "client"] if obj else self.readonly_fields

    def get_search_results(self, request, queryset, search_term):
        found = _search_by_phone(queryset, "phone_number", search_term)
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "client"}
        if change:
            services.update_tracking_number(tracking_number=obj, request=request, **fields)
        else:
            created = services.create_tracking_number(client=form.cleaned_data["client"], request=request, **fields)
            obj.pk, obj._state.adding = created.pk, False

    def delete_model(self, request, obj):
        services.delete_tracking_number(tracking_number=obj, request=request)

    def delete_queryset(self, request, queryset):
        for number in queryset.order_by("pk"):
            services.delete_tracking_number(tracking_number=number, request=request)

    @admin.action(description="Release (stop answering calls to the number)")
    def release(self, request, queryset):
        released = 0
        for number in queryset.filter(status=TrackingNumberStatus.ACTIVE).order_by("pk"):
            try:
                services.update_tracking_number(tracking_number=number, request=request,
                                                status=TrackingNumberStatus.RELEASED)
                released += 1
            except ValidationError as error:
                self.message_user(request, f"{number}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, f"{released} number(s) released.", messages.SUCCESS)


@admin.register(CallSession)
class CallSessionAdmin(admin.ModelAdmin):
    """Calls are written by the provider's webhooks and by agents (on the agent screen), so they are read-only here."""

    list_display = ["call_started_at", "caller_phone", "campaign", "recipient", "match_method", "provider_status",
                    "duration_seconds", "recording_status", "disposition"]
    list_filter = ["provider_status", "match_method", "recording_status", "disposition",
                   ("call_started_at", admin.DateFieldListFilter)]
    search_fields = ["=provider_call_id"]
    search_help_text = "The caller's number in any format, or the provider's call id."
    list_select_related = ["campaign", "recipient"]
    show_full_result_count = False
    readonly_fields = [*(field.name for field in CallSession._meta.fields), "recording_link"]
    actions = ["retry_recording_download", "restore_from_cold_storage"]

    def get_search_results(self, request, queryset, search_term):
        found = _search_by_phone(queryset, "caller_phone", search_term)
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Listen")
    def recording_link(self, session):
        if not session.recording or session.recording_archived:
            return session.get_recording_status_display()
        # A fresh short-lived URL at each click, handed out (and audited) by the agent screen.
        return format_html('<a href="{}">Play the recording</a>',
                           reverse("calltracking:agent_recording", args=[session.pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry the recording download")
    def retry_recording_download(self, request, queryset):
        retried = sum(services.retry_recording(session=session, request=request) for session in queryset.order_by("pk"))
        self.message_user(request, f"{retried} download(s) scheduled again.", messages.SUCCESS)

    @admin.action(description="Restore the recording from cold storage")
    def restore_from_cold_storage(self, request, queryset):
        # One at a time on purpose: thawing is billed per object and takes hours.
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one call to restore its recording.", messages.ERROR)
            return
        session = queryset.get()
        if services.request_recording_restore(session=session, request=request):
            self.message_user(request, f"The recording of {session} is on its way back from cold storage; it can be "
                                       "played once its status is Stored again (hours for GLACIER).", messages.SUCCESS)
        else:
            self.message_user(request, f"The recording of {session} is not in cold storage.", messages.WARNING)


@admin.register(RecordingArchive)
class RecordingArchiveAdmin(ReadOnlyAdminMixin, IdSearchMixin, admin.ModelAdmin):
    """The journal of recordings moved to cold storage, written only by the recordings retention job."""

    list_display = ["session", "archive_name", "size_bytes", "storage_class", "archived_at", "source_deleted_at",
                    "restored_at"]
    list_filter = [("archived_at", admin.DateFieldListFilter), ("restored_at", admin.EmptyFieldListFilter)]
    search_fields = ["session_id"]  # the primary key
    search_help_text = "A call session id."
    list_select_related = ["session"]
    ordering = ["-session_id"]
    show_full_result_count = False
