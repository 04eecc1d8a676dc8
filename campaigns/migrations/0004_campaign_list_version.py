"""Campaigns count the changes to their mailing list, so a proof knows whether the list it was made from is still
the campaign's. A constant default: PostgreSQL adds the column without rewriting the table."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_import_heartbeat_and_status_checks'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='list_version',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
