from django.db import migrations

from analytics.partitions import ensure_partitions


def create_partitions(apps, schema_editor):
    # Without a partition for the current month no event can be recorded, so a fresh database gets its
    # partitions at once (today: the retention window back and three months ahead); the daily task keeps them coming. The partition manager
    # uses raw SQL only (no models), so calling it from a migration stays valid as the model changes.
    ensure_partitions(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_events_partitioned")]

    # Unapplying 0001 drops the partitions with their table.
    operations = [migrations.RunPython(create_partitions, migrations.RunPython.noop)]
