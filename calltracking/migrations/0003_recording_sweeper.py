"""Calls record when the task of a recording in flight (a download, or a restore from cold storage) is due and
how many times the sweeper queued it again, with a partial index for the sweeper, built without locking
call_sessions against writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('calltracking', '0002_recording_archives'),
    ]

    operations = [
        migrations.AddField(
            model_name='callsession',
            name='recording_queued_at',
            field=models.DateTimeField(blank=True, help_text='While downloading or coming back from cold storage: when its task is due.', null=True),
        ),
        migrations.AddField(
            model_name='callsession',
            name='recording_requeues',
            field=models.PositiveSmallIntegerField(default=0, help_text='How many times the sweeper queued that task again (its message was lost).'),
        ),
        AddIndexConcurrently(
            model_name='callsession',
            index=models.Index(condition=models.Q(('recording_status__in', ['pending', 'restoring'])), fields=['recording_queued_at'], name='call_sessions_recording_due'),
        ),
        # Recordings already in flight count as due now: the sweeper queues their task again if it never comes.
        migrations.RunSQL(
            "UPDATE call_sessions SET recording_queued_at = now() WHERE recording_status IN ('pending', 'restoring')",
            migrations.RunSQL.noop,
        ),
    ]
