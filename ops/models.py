from django.db import models
from django.db.models import Q


class RetentionJob(models.TextChoices):
    EVENTS = "events", "Events (drop monthly partitions)"
    RECORDINGS = "recordings", "Call recordings (move to cold storage)"
    RECIPIENTS = "recipients", "Recipients (soft delete, clear personal fields)"
    GIFT_CARD_LOGS = "gift_card_logs", "Gift-card logs (purge)"
    AUDIT_LOGS = "audit_logs", "Audit logs (purge)"
    EVENT_INGEST_KEYS = "event_ingest_keys", "Event idempotency keys (purge)"
    WEBHOOK_MESSAGES = "webhook_messages", "Outbound webhook messages and their delivery log (purge)"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # Not started: another run of the job held its lock.
    REFUSED = "refused", "Refused (another run was going)"


class RetentionRun(models.Model):
    """One run of one retention job: what it removed (or, in a dry run, would have removed)."""

    job = models.CharField(max_length=32, choices=RetentionJob.choices)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    cutoff = models.DateTimeField(help_text="Data older than this is past retention.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # e.g. {"deleted": 1200, "batches": 3} or {"archived": 4, "failed": 1}
    counts = models.JSONField(default=dict, blank=True)
    errors = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=64, blank=True, help_text="beat, a management command, ...")

    class Meta:
        db_table = "retention_runs"
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["job", "started_at"], name="retention_runs_job_started")]

    def __str__(self):
        return f"{self.get_job_display()} at {self.started_at:%Y-%m-%d %H:%M}"


class AlertMetric(models.TextChoices):
    DATABASE_SIZE = "database_size", "Database size (% of capacity)"
    CONNECTION_POOL = "connection_pool", "Connections (% of max_connections)"
    API_LATENCY_P95 = "api_latency_p95", "API latency p95 (ms)"
    ERROR_RATE = "error_rate", "API error rate (%)"
    DELIVERY_BACKLOG = "delivery_backlog", "Oldest gift card not yet delivered (minutes)"


class Alert(models.Model):
    """A threshold crossed. One open alert per metric: opened once per crossing, resolved on recovery.

    Gift-card pool levels alert through giftcards.PoolAlert (one per pool); the minute check drives both."""

    metric = models.CharField(max_length=32, choices=AlertMetric.choices)
    value = models.FloatField(help_text="The value that crossed the threshold.")
    threshold = models.FloatField()
    peak_value = models.FloatField(help_text="The worst value seen while the alert was open.")
    message = models.CharField(max_length=500)
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "ops_alerts"
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["metric"], condition=Q(resolved_at__isnull=True),
                                    name="ops_alerts_one_open"),
        ]

    def __str__(self):
        return f"{self.get_metric_display()}: {self.value:g} (threshold {self.threshold:g})"

    @property
    def is_open(self):
        return self.resolved_at is None


class DatabaseSizeSnapshot(models.Model):
    """The database's size once a day, for growth."""

    day = models.DateField(unique=True)
    size_bytes = models.BigIntegerField()
    taken_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "database_size_snapshots"
        ordering = ["-day"]

    def __str__(self):
        return f"{self.day}: {self.size_bytes} bytes"
