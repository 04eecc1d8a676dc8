import logging

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from mobul.admin import ReadOnlyAdminMixin

from . import latency, monitoring
from .alerts import THRESHOLD_SETTING, current_values, threshold
from .models import Alert, DatabaseSizeSnapshot, RetentionJob, RetentionRun
from .retention import RetentionRunning, cutoff_for, ensure_not_running
from .tasks import run_retention_job

logger = logging.getLogger(__name__)

LATENCY_WINDOW_MINUTES = 60


def _section(name, read):
    """One part of the monitoring page; a source that is down shows as such instead of failing the page."""
    try:
        return {"ok": True, "data": read()}
    except Exception as error:
        logger.exception("Monitoring section %s failed", name)
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def _latency():
    stats = latency.recent(LATENCY_WINDOW_MINUTES)
    rows = sorted(stats.values(), key=lambda endpoint: endpoint.count, reverse=True)
    return {"overall": latency.overall(stats), "endpoints": rows}


def _alert_board():
    values = current_values()
    return [{"metric": metric, "label": metric.label, "value": values[metric], "threshold": threshold(metric),
             "open": Alert.objects.filter(metric=metric, resolved_at__isnull=True).first()}
            for metric in THRESHOLD_SETTING]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Opened and resolved by the minute check (ops.tasks.check_alerts); the monitoring page hangs off here."""

    list_display = ["metric", "value", "peak_value", "threshold", "opened_at", "resolved_at", "resolved_value"]
    list_filter = ["metric", ("resolved_at", admin.EmptyFieldListFilter)]
    change_list_template = "admin/ops/alert/change_list.html"

    def get_urls(self):
        return [path("monitoring/", self.admin_site.admin_view(self.monitoring), name="ops_monitoring"),
                *super().get_urls()]

    def monitoring(self, request):
        context = {
            **self.admin_site.each_context(request),
            "title": "Monitoring",
            "opts": self.model._meta,
            "slow_queries": _section("slow queries", monitoring.slow_queries),
            "database_size": _section("database size", monitoring.database_size),
            "capacity": settings.DATABASE_CAPACITY_BYTES,
            "growth": _section("growth", monitoring.size_growth),
            "tables": _section("tables", monitoring.table_sizes),
            "connections": _section("connections", monitoring.connection_use),
            "pg_hit_ratio": _section("database cache", monitoring.database_cache_hit_ratio),
            "redis_hit_ratio": _section("redis", monitoring.redis_cache_hit_ratio),
            "latency": _section("latency", _latency),
            "latency_minutes": LATENCY_WINDOW_MINUTES,
            "queues": _section("queues", monitoring.queue_lengths),
            "pools": _section("gift-card pools", monitoring.pool_levels),
            "alerts": _section("alerts", _alert_board),
        }
        return TemplateResponse(request, "admin/ops/monitoring.html", context)


class RunRetentionForm(forms.Form):
    job = forms.ChoiceField(choices=RetentionJob.choices)
    dry_run = forms.BooleanField(required=False, initial=True, label="Dry run (only count what would go)")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the retention jobs: beat daily at 02:00 UTC, `manage.py retention run JOB`, or staff here."""

    list_display = ["job", "status", "dry_run", "cutoff", "started_at", "finished_at", "counts", "triggered_by"]
    list_filter = ["job", "status", "dry_run"]
    readonly_fields = [field.name for field in RetentionRun._meta.fields]
    change_list_template = "admin/ops/retentionrun/change_list.html"

    def get_urls(self):
        return [path("run/", self.admin_site.admin_view(self.run_now), name="ops_retention_run"), *super().get_urls()]

    def run_now(self, request):
        form = RunRetentionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            job, dry_run = form.cleaned_data["job"], form.cleaned_data["dry_run"]
            triggered_by = f"admin: {request.user.get_username()}"[:64]
            try:
                ensure_not_running(job, closed_by=triggered_by)
            except RetentionRunning as refusal:
                self.message_user(request, refusal.message, messages.ERROR)
            else:
                run_retention_job.delay(job, dry_run=dry_run, triggered_by=triggered_by)
                self.message_user(request, f"{RetentionJob(job).label}: {'dry run' if dry_run else 'run'} queued; it "
                                           "appears below when it starts (listed as refused if another run of the "
                                           "job starts first).", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:ops_retentionrun_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Run a retention job now", "form": form,
                   "opts": self.model._meta,
                   "cutoffs": [(job.label, cutoff_for(job)) for job in RetentionJob]}
        return TemplateResponse(request, "admin/ops/retention_run.html", context)


@admin.register(DatabaseSizeSnapshot)
class DatabaseSizeSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "size_bytes", "taken_at"]
