import django.contrib.postgres.fields
from django.db import migrations, models

# Batches still queued are carried over, in both directions, so none is lost or counted twice.
TO_ARRAYS = """
ALTER TABLE event_rollup_queue ADD COLUMN created_at timestamp with time zone[], ADD COLUMN campaign_id bigint[],
    ADD COLUMN recipient_id bigint[], ADD COLUMN event_type varchar(64)[];
UPDATE event_rollup_queue AS q
SET created_at = a.created_at, campaign_id = a.campaign_id, recipient_id = a.recipient_id, event_type = a.event_type
FROM (
    SELECT q.id, array_agg((e->>0)::timestamptz ORDER BY n) AS created_at,
           array_agg((e->>1)::bigint ORDER BY n) AS campaign_id, array_agg((e->>2)::bigint ORDER BY n) AS recipient_id,
           array_agg(e->>3 ORDER BY n) AS event_type
    FROM event_rollup_queue AS q, jsonb_array_elements(q.events) WITH ORDINALITY AS x (e, n) GROUP BY q.id
) AS a
WHERE q.id = a.id;
ALTER TABLE event_rollup_queue DROP COLUMN events, ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN campaign_id SET NOT NULL, ALTER COLUMN recipient_id SET NOT NULL, ALTER COLUMN event_type SET NOT NULL;
"""
TO_JSON = """
ALTER TABLE event_rollup_queue ADD COLUMN events jsonb;
UPDATE event_rollup_queue SET events = (
    SELECT jsonb_agg(jsonb_build_array(c, m, r, t) ORDER BY n)
    FROM unnest(created_at, campaign_id, recipient_id, event_type) WITH ORDINALITY AS u (c, m, r, t, n)
);
ALTER TABLE event_rollup_queue ALTER COLUMN events SET NOT NULL, DROP COLUMN created_at, DROP COLUMN campaign_id,
    DROP COLUMN recipient_id, DROP COLUMN event_type;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0006_rollup_queue'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(TO_ARRAYS, TO_JSON)],
            state_operations=[
                migrations.RemoveField(model_name='pendingrollup', name='events'),
                migrations.AddField(
                    model_name='pendingrollup',
                    name='created_at',
                    field=django.contrib.postgres.fields.ArrayField(base_field=models.DateTimeField(), size=None),
                ),
                migrations.AddField(
                    model_name='pendingrollup',
                    name='campaign_id',
                    field=django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=None),
                ),
                migrations.AddField(
                    model_name='pendingrollup',
                    name='recipient_id',
                    field=django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(null=True),
                                                                    size=None),
                ),
                migrations.AddField(
                    model_name='pendingrollup',
                    name='event_type',
                    field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=64),
                                                                    size=None),
                ),
            ],
        ),
    ]
