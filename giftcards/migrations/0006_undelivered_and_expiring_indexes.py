"""Partial indexes for the outbox alert and sweeper (claimed cards not known to be sent) and for the daily
expiry run (unclaimed stock by expiry date), built without locking gift_cards against writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('giftcards', '0005_delivery_attempts_and_status_checks'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='giftcard',
            index=models.Index(condition=models.Q(('delivery_status__in', ('pending', 'queued', 'sending', 'unconfirmed'))), fields=['claimed_at'], name='gift_cards_undelivered'),
        ),
        AddIndexConcurrently(
            model_name='giftcard',
            index=models.Index(condition=models.Q(('expires_on__isnull', False), ('status', 'available')), fields=['expires_on'], name='gift_cards_expiring_stock'),
        ),
    ]
