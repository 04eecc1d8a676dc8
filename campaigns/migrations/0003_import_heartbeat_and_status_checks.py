"""Import jobs get what their sweeper reads (when a pending job was queued, its worker's heartbeat while it runs,
how many times it was started) and the index it reads them through; CHECK constraints hold the status columns
of campaigns, recipients and import jobs to their choices.

The constraints are added NOT VALID, then validated in a transaction of their own: the scan of a big table
then blocks neither reads nor writes (VALIDATE takes only a SHARE UPDATE EXCLUSIVE lock)."""

from django.db import migrations, models

CAMPAIGN_STATUSES = ['draft', 'proofed', 'approved', 'scheduled', 'in_production', 'mailed', 'active', 'paused',
                     'completed', 'cancelled']
RECIPIENT_STATUSES = ['pending', 'mailed', 'delivered', 'returned', 'responded', 'redeemed']
IMPORT_STATUSES = ['pending', 'running', 'completed', 'failed']

CHECKS = [
    # (model, table, constraint, column, allowed values)
    ('campaign', 'campaigns', 'campaigns_status_valid', 'status', CAMPAIGN_STATUSES),
    ('recipient', 'recipients', 'recipients_status_valid', 'status', RECIPIENT_STATUSES),
    ('importjob', 'import_jobs', 'import_jobs_status_valid', 'status', IMPORT_STATUSES),
]


def _check(model, table, name, column, values):
    constraint = models.CheckConstraint(condition=models.Q((f'{column}__in', values)), name=name)
    allowed = ', '.join(repr(value) for value in values)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddConstraint(model_name=model, constraint=constraint)],
        database_operations=[
            migrations.RunSQL(f'ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ("{column}" IN ({allowed})) NOT VALID',
                              f'ALTER TABLE {table} DROP CONSTRAINT {name}'),
            migrations.RunSQL(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}', migrations.RunSQL.noop),
        ],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('campaigns', '0002_gift_card_links'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='How many times a worker started it.'),
        ),
        migrations.AddField(
            model_name='importjob',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='While running: when its worker last said it was alive.', null=True),
        ),
        migrations.AddField(
            model_name='importjob',
            name='queued_at',
            field=models.DateTimeField(blank=True, help_text='While pending: when its task was last queued.', null=True),
        ),
        migrations.AlterField(
            model_name='importjob',
            name='started_at',
            field=models.DateTimeField(blank=True, help_text='When its latest attempt started.', null=True),
        ),
        # A job already waiting counts as queued when it was created: the sweeper queues it again at once if its
        # message was lost. One already running counts as alive now, so a worker still finishing it keeps it.
        migrations.RunSQL(
            "UPDATE import_jobs SET queued_at = created_at WHERE status = 'pending';"
            " UPDATE import_jobs SET heartbeat_at = now(), attempts = 1 WHERE status = 'running'",
            migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name='importjob',
            index=models.Index(condition=models.Q(('status__in', ['pending', 'running'])), fields=['status'], name='import_jobs_unfinished'),
        ),
        *[_check(*check) for check in CHECKS],
    ]
