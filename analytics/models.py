from django.db import models
from django.db.models import Func, Q, Value
from django.utils import timezone

from .choices import EventSource


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
