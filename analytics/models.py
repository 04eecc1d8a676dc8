from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Func, Q, Value
from django.utils import timezone

from mobul.admin import admin_twin

from .choices import EventSource, FunnelStage, MailScanStatus


class Event(models.Model):
    """One thing that happened to a campaign or a recipient.

    The table is range-partitioned by month on `created_at` (partitions `events_YYYY_MM`, managed by
    `analytics.partitions`), which is why the key is (id, created_at): PostgreSQL requires the partition key
    in every unique constraint. The table itself is built by hand-written SQL in migration 0001.
    """

    pk = models.CompositePrimaryKey("id", "created_at")
    # A bigserial column: the database numbers events and INSERT ... RETURNING hands the id back. (Not an
    # identity column: before PostgreSQL 17 partitions do not inherit identity, but they do inherit defaults.)
    id = models.BigIntegerField(db_default=Func(Value("events_id_seq"), function="nextval"), editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Campaigns are never deleted, so the database constraint is NO ACTION and the ORM never cascades over
    # millions of events. Indexed by the leading column of idx_events_campaign_type_date.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.DO_NOTHING, db_index=False, related_name="events"
    )
    # No foreign key: recipients are never hard-deleted, and hot paths should not pay a key check per event.
    recipient_id = models.BigIntegerField(null=True, blank=True)
    # Built-in EventType values or integrator-defined "custom.*" types, so no choices here: the service validates.
    event_type = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "events"
        managed = True
        indexes = [
            models.Index(fields=["campaign", "event_type", "created_at"], name="idx_events_campaign_type_date"),
            models.Index(
                fields=["recipient_id", "created_at"],
                condition=Q(recipient_id__isnull=False),
                name="idx_events_recipient_date",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.created_at:%Y-%m-%d %H:%M}"


class CampaignDailyStat(models.Model):
    """Events per campaign, UTC day and type: what the dashboards read instead of scanning events."""

    # Indexed by the leading column of the unique constraint.
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, db_index=False,
                                 related_name="daily_stats")
    day = models.DateField()
    event_type = models.CharField(max_length=64)
    events = models.BigIntegerField(default=0)

    class Meta:
        db_table = "campaign_daily_stats"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "event_type"], name="campaign_daily_stats_key")
        ]
        verbose_name = "daily campaign statistic"

    def __str__(self):
        return f"{self.campaign_id} {self.day} {self.event_type}: {self.events}"


class CampaignDailyFunnel(models.Model):
    """Recipients reaching a funnel stage for the first time, per campaign and UTC day."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, db_index=False,
                                 related_name="daily_funnel")
    day = models.DateField()
    stage = models.CharField(max_length=16, choices=FunnelStage.choices)
    recipients = models.BigIntegerField(default=0)

    class Meta:
        db_table = "campaign_daily_funnel"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "stage"], name="campaign_daily_funnel_key")
        ]

    def __str__(self):
        return f"{self.campaign_id} {self.day} {self.stage}: {self.recipients}"


class RecipientStage(models.Model):
    """The first time a recipient reached a funnel stage: makes funnel counts distinct recipients."""

    pk = models.CompositePrimaryKey("recipient_id", "stage")
    recipient_id = models.BigIntegerField()
    stage = models.CharField(max_length=16, choices=FunnelStage.choices)
    campaign_id = models.BigIntegerField(db_index=True)
    first_at = models.DateTimeField()

    class Meta:
        db_table = "recipient_stages"

    def __str__(self):
        return f"{self.recipient_id} {self.stage} {self.first_at:%Y-%m-%d}"


class EventIngestKey(models.Model):
    """An integrator's idempotency key for one event: a retried batch never counts an event twice."""

    pk = models.CompositePrimaryKey("client_id", "key")
    client_id = models.BigIntegerField()
    # Byte-order comparison: the unique index takes a batch of keys in a fraction of the locale-aware time.
    key = models.CharField(max_length=100, db_collation="C")
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        db_table = "event_ingest_keys"
        # Keys arrive in time order: a BRIN index finds old ones to purge and costs next to nothing per key.
        indexes = [BrinIndex(fields=["created_at"], name="event_ingest_keys_age")]

    def __str__(self):
        return self.key


class PendingRollup(models.Model):
    """One ingested batch whose events are stored but not yet counted in the rollups.

    The statement that stores a batch writes this row (ingest.STORE_SQL); `rollups.apply_pending_rollups` counts
    and deletes it in the same transaction, so a batch is counted exactly once however often the job runs."""

    # The events column by column, event i at index i of each: plain arrays cost the storing statement a third of
    # what one JSON document of the same values did.
    created_at = ArrayField(models.DateTimeField())
    campaign_id = ArrayField(models.BigIntegerField())
    recipient_id = ArrayField(models.BigIntegerField(null=True))
    event_type = ArrayField(models.CharField(max_length=64))
    queued_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        db_table = "event_rollup_queue"

    def __str__(self):
        return f"{len(self.event_type)} events queued {self.queued_at:%Y-%m-%d %H:%M:%S}"


class MailScan(models.Model):
    """A delivery scan the print vendor reported. The unique scan id is what makes a re-sent scan count once."""

    scan_id = models.CharField(max_length=100)
    # Recipients are soft-deleted, never removed, so PROTECT never fires in practice; it keeps scans attached.
    recipient = models.ForeignKey("campaigns.Recipient", on_delete=models.PROTECT, related_name="mail_scans")
    status = models.CharField(max_length=16, choices=MailScanStatus.choices)
    scanned_at = models.DateTimeField()
    # Filled in by the database, so the set-based insert of a whole batch gets it too.
    received_at = models.DateTimeField(db_default=models.functions.Now(), editable=False)

    class Meta:
        db_table = "mail_scans"
        # A constraint rather than unique=True, which would add a LIKE index that exact lookups never use.
        constraints = [models.UniqueConstraint(fields=["scan_id"], name="mail_scans_scan_id_key")]
        # Newest first along the primary key index: the table grows by one row per mail piece.
        ordering = ["-pk"]

    def __str__(self):
        return f"{self.scan_id} {self.status}"


# The admin's views of the tables above whose primary key is composite (it registers no such model).
EventRecord = admin_twin(Event, key="id")
RecipientStageRecord = admin_twin(RecipientStage, key="recipient_id")
EventIngestKeyRecord = admin_twin(EventIngestKey, key="key")
