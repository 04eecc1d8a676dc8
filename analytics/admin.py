from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from mobul.admin import ReadOnlyAdminMixin

from .models import CampaignDailyStat, Event, MailScan
from .rollups import rebuild_rollups

# Event has no ModelAdmin (Django's admin refuses composite primary keys): the event browser below shows it.


@admin.register(MailScan)
class MailScanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: scans arrive only through the print vendor's signed webhook."""

    list_display = ["scan_id", "status", "recipient", "scanned_at", "received_at"]
    list_filter = ["status", ("scanned_at", admin.DateFieldListFilter), ("received_at", admin.DateFieldListFilter)]
    # Exact matches on unique columns: usable at one row per mail piece.
    search_fields = ["=scan_id", "=recipient__redemption_token"]
    search_help_text = "A scan id or a recipient's redemption token."
    list_select_related = ["recipient"]
    show_full_result_count = False


class EventBrowserForm(forms.Form):
    since = forms.DateTimeField(label="From", help_text="UTC, e.g. 2026-11-01 00:00")
    until = forms.DateTimeField(label="To", help_text="UTC, exclusive; at most 31 days after From")
    campaign = forms.IntegerField(required=False, label="Campaign id")
    event_type = forms.CharField(required=False, max_length=64)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and not timedelta(0) < until - since <= EVENT_BROWSER_MAX_RANGE:
            raise forms.ValidationError("To must be after From, and at most 31 days later.")
        return cleaned


EVENT_BROWSER_MAX_RANGE = timedelta(days=31)
EVENT_BROWSER_ROWS = 200


@admin.register(CampaignDailyStat)
class CampaignDailyStatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Events per campaign, day and type (the rollups), plus a raw event browser by time range."""

    list_display = ["campaign", "day", "event_type", "events"]
    list_filter = ["event_type", ("day", admin.DateFieldListFilter)]
    search_fields = ["campaign__name", "=campaign__id"]
    list_select_related = ["campaign"]
    show_full_result_count = False
    change_list_template = "admin/analytics/campaigndailystat/change_list.html"
    actions = ["rebuild_selected_campaigns"]


    def get_urls(self):
        return [path("events/", self.admin_site.admin_view(self.event_browser), name="analytics_event_browser"),
                *super().get_urls()]

    @admin.action(description="Rebuild the last 90 days of these campaigns' rollups from raw events")
    def rebuild_selected_campaigns(self, request, queryset):
        today = timezone.now().date()
        campaign_ids = sorted(set(queryset.values_list("campaign_id", flat=True)))
        rebuild_rollups(start=today - timedelta(days=90), end=today, campaign_ids=campaign_ids)
        self.message_user(request, f"Rebuilt the rollups of {len(campaign_ids)} campaign(s).", messages.SUCCESS)

    def event_browser(self, request):
        form = EventBrowserForm(request.GET or None)
        events = None
        if form.is_valid():
            events = Event.objects.filter(created_at__gte=form.cleaned_data["since"],
                                          created_at__lt=form.cleaned_data["until"])
            if form.cleaned_data["campaign"]:
                events = events.filter(campaign_id=form.cleaned_data["campaign"])
            if form.cleaned_data["event_type"]:
                events = events.filter(event_type=form.cleaned_data["event_type"])
            events = list(events.select_related("campaign").order_by("-created_at")[:EVENT_BROWSER_ROWS])
        context = {**self.admin_site.each_context(request), "title": "Event browser", "form": form,
                   "events": events, "limit": EVENT_BROWSER_ROWS, "opts": self.model._meta}
        return TemplateResponse(request, "admin/analytics/event_browser.html", context)
