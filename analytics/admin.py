from datetime import UTC, datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from campaigns.choices import MAILED_STATUSES
from campaigns.models import Campaign
from mobul.admin import (
    CompositeKeyAdminMixin, EstimatedCountPaginator, IdSearchMixin, ReadOnlyAdminMixin, as_id,
)

from .choices import EventType
from .models import (
    CampaignDailyFunnel, CampaignDailyStat, EventIngestKeyRecord, EventRecord, MailScan, PendingRollup,
    RecipientStageRecord,
)
from .partitions import add_months, list_partitions
from .rollups import rebuild_rollups

# Events, funnel stages and ingest keys have composite primary keys, which Django's admin refuses: their admins are
# of the unmanaged twins in models.py, which find a row by its whole key. Nothing here counts or scans a big table.


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


class CampaignDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A rollup: one row per campaign, UTC day and what is counted."""

    search_fields = ["campaign__name", "=campaign__id"]
    list_select_related = ["campaign"]
    show_full_result_count = False


@admin.register(CampaignDailyStat)
class CampaignDailyStatAdmin(CampaignDayAdmin):
    """Events per campaign, day and type; the raw events are in EventAdmin below."""

    list_display = ["campaign", "day", "event_type", "events"]
    list_filter = ["event_type", ("day", admin.DateFieldListFilter)]
    change_list_template = "admin/analytics/campaigndailystat/change_list.html"
    actions = ["rebuild_selected_campaigns"]

    @admin.action(description="Rebuild the last 90 days of these campaigns' rollups from raw events")
    def rebuild_selected_campaigns(self, request, queryset):
        today = timezone.now().date()
        campaign_ids = sorted(set(queryset.values_list("campaign_id", flat=True)))
        rebuild_rollups(start=today - timedelta(days=90), end=today, campaign_ids=campaign_ids)
        self.message_user(request, f"Rebuilt the rollups of {len(campaign_ids)} campaign(s).", messages.SUCCESS)


@admin.register(CampaignDailyFunnel)
class CampaignDailyFunnelAdmin(CampaignDayAdmin):
    """Recipients reaching each funnel stage per campaign and day (rebuilt with the rollups above)."""

    list_display = ["campaign", "day", "stage", "recipients"]
    list_filter = ["stage", ("day", admin.DateFieldListFilter)]


@admin.register(PendingRollup)
class PendingRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Batches stored but not yet counted in the rollups: apply_rollups empties this every minute."""

    list_display = ["id", "queued_at", "events"]
    ordering = ["id"]
    show_full_result_count = False

    @admin.display(description="events")
    def events(self, obj):
        return len(obj.event_type)


class MonthFilter(admin.SimpleListFilter):
    """One partition of events: the months come from the catalogue, and the range prunes every other partition."""

    title = "month"
    parameter_name = "month"

    def lookups(self, request, model_admin):
        return [(f"{partition.start:%Y-%m}", f"{partition.start:%B %Y}") for partition in reversed(list_partitions())]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            start = datetime.strptime(self.value(), "%Y-%m").replace(tzinfo=UTC)
            end = datetime.combine(add_months(start.date(), 1), datetime.min.time(), tzinfo=UTC)
        except ValueError:  # not a month, or 9999-12, whose end is past the calendar
            raise IncorrectLookupParameters(f"{self.value()!r} is not a month (YYYY-MM).") from None
        return queryset.filter(created_at__gte=start, created_at__lt=end)


class EventTypeFilter(admin.SimpleListFilter):
    """The built-in types, listed without reading the table (a DISTINCT over events would read all of it)."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return EventType.choices

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


class MailedCampaignFilter(admin.SimpleListFilter):
    """Campaigns that have events (those mailed), newest mailing first; any campaign id works in the URL."""

    title = "campaign"
    parameter_name = "campaign"
    SHOWN = 50

    def lookups(self, request, model_admin):
        campaigns = Campaign.objects.filter(status__in=MAILED_STATUSES).order_by("-mail_date", "-pk")[:self.SHOWN]
        return [(str(campaign.pk), str(campaign)) for campaign in campaigns]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        campaign_id = as_id(self.value())
        if campaign_id is None:
            raise IncorrectLookupParameters(f"{self.value()!r} is not a campaign id.")
        return queryset.filter(campaign_id=campaign_id)


class BigTableAdmin(ReadOnlyAdminMixin, CompositeKeyAdminMixin, IdSearchMixin, admin.ModelAdmin):
    """A composite-key table of millions of rows: nothing on the page may count, sort or scan all of it."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    sortable_by = ()  # a column sort would sort the whole table
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice, each over the whole table


@admin.register(EventRecord)
class EventAdmin(BigTableAdmin):
    list_display = ["created_at", "event_type", "source", "campaign", "recipient_id"]
    list_filter = [MonthFilter, MailedCampaignFilter, EventTypeFilter, "source"]
    search_fields = ["recipient_id"]  # idx_events_recipient_date
    search_help_text = "A recipient id."
    list_select_related = ["campaign"]
    list_per_page = 100

    def get_ordering(self, request):
        # Newest first along idx_events_campaign_type_date when a campaign and a type are chosen; otherwise by id
        # (the numbering follows arrival), which each partition's primary key index gives without sorting.
        if request.GET.get(MailedCampaignFilter.parameter_name) and request.GET.get(EventTypeFilter.parameter_name):
            return ["-created_at", "-id"]
        return ["-id"]


@admin.register(RecipientStageRecord)
class RecipientStageAdmin(BigTableAdmin):
    """The first time each recipient reached each funnel stage (what makes funnel counts distinct recipients)."""

    list_display = ["recipient_id", "stage", "campaign_id", "first_at"]
    list_filter = ["stage"]
    search_fields = ["recipient_id", "campaign_id"]  # the primary key's leading column; recipient_stages_campaign_id
    search_help_text = "A recipient id or a campaign id."
    ordering = ["recipient_id", "stage"]


@admin.register(EventIngestKeyRecord)
class EventIngestKeyAdmin(BigTableAdmin):
    """Integrators' per-event idempotency keys (kept 30 days by the event_ingest_keys retention job)."""

    list_display = ["client_id", "key", "created_at"]
    search_fields = ["client_id"]  # the primary key's leading column
    search_help_text = "A client id."
    ordering = ["client_id", "key"]
