from django.db import migrations

from analytics.partitions import ensure_partitions


def create_partitions(apps, schema_editor):
    # 0002 gave a database the current month and the next three only, so an event of last month (a call or a
    # scan reported after midnight on the 1st, an integrator's batch of yesterday) had no partition. The
    # partition manager now covers the whole retention window back as well; this brings existing databases
    # there (on a fresh one 0002 already did, and this finds nothing to do).
    ensure_partitions(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0007_rollup_queue_arrays")]

    # The partitions stay when unapplied: events may already be stored in them.
    operations = [migrations.RunPython(create_partitions, migrations.RunPython.noop)]
