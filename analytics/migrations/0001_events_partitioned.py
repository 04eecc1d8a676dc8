import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# Django cannot create a partitioned table, so the database side is hand-written and the model state is
# declared next to it; `makemigrations --check` compares the model against that state.
# Indexes created on the parent are created on every partition, present and future. The table starts
# empty, so nothing is built concurrently.
CREATE_EVENTS = """
CREATE TABLE events (
    id bigserial NOT NULL,
    created_at timestamp with time zone NOT NULL,
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    recipient_id bigint NULL,
    event_type varchar(64) NOT NULL,
    source varchar(16) NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_events_campaign_type_date ON events (campaign_id, event_type, created_at);
CREATE INDEX idx_events_recipient_date ON events (recipient_id, created_at) WHERE recipient_id IS NOT NULL;
"""

# Dropping the parent drops its partitions and the id sequence with it.
DROP_EVENTS = "DROP TABLE events;"


class Migration(migrations.Migration):
    initial = True

    dependencies = [("campaigns", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CREATE_EVENTS, DROP_EVENTS)],
            state_operations=[
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        ("pk", models.CompositePrimaryKey(
                            "id", "created_at", blank=True, editable=False, primary_key=True, serialize=False
                        )),
                        ("id", models.BigIntegerField(
                            db_default=models.Func(models.Value("events_id_seq"), function="nextval"), editable=False
                        )),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("recipient_id", models.BigIntegerField(blank=True, null=True)),
                        ("event_type", models.CharField(max_length=64)),
                        ("source", models.CharField(
                            choices=[("mail", "Mail"), ("purl", "PURL"), ("qr", "QR code"), ("call", "Call"),
                                     ("api", "API"), ("staff", "Staff")],
                            max_length=16,
                        )),
                        ("payload", models.JSONField(blank=True, default=dict)),
                        ("campaign", models.ForeignKey(
                            db_index=False,
                            on_delete=django.db.models.deletion.DO_NOTHING,
                            related_name="events",
                            to="campaigns.campaign",
                        )),
                    ],
                    options={
                        "db_table": "events",
                        "managed": True,
                        "indexes": [
                            models.Index(
                                fields=["campaign", "event_type", "created_at"], name="idx_events_campaign_type_date"
                            ),
                            models.Index(
                                condition=models.Q(("recipient_id__isnull", False)),
                                fields=["recipient_id", "created_at"],
                                name="idx_events_recipient_date",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
