"""Delivery records when a card was queued and when its last send began (the outbox sweeper and the
never-twice rule read them); CHECK constraints hold every status column of the gift-card tables to its
choices.

The constraints are added NOT VALID, then validated in a transaction of their own: the scan of a big table
then blocks neither reads nor writes (VALIDATE takes only a SHARE UPDATE EXCLUSIVE lock)."""

from django.db import migrations, models

CARD_STATUSES = ['available', 'claimed', 'delivered', 'redeemed', 'void', 'expired']
DELIVERY_STATUSES = ['not_sent', 'pending', 'queued', 'sending', 'unconfirmed', 'sent', 'failed', 'undeliverable']
LOG_ACTIONS = ['imported', 'assigned', 'claimed', 'delivered', 'delivery_failed', 'delivery_unconfirmed',
               'delivery_resent', 'redeemed', 'voided', 'expired', 'revealed']
LOG_STATUSES = ['', *CARD_STATUSES]

CHECKS = [
    # (model, table, constraint, {column: allowed values})
    ('giftcard', 'gift_cards', 'gift_cards_status_valid', {'status': CARD_STATUSES}),
    ('giftcard', 'gift_cards', 'gift_cards_delivery_status_valid', {'delivery_status': DELIVERY_STATUSES}),
    ('giftcardlog', 'gift_card_logs', 'gift_card_logs_action_valid', {'action': LOG_ACTIONS}),
    ('giftcardlog', 'gift_card_logs', 'gift_card_logs_statuses_valid',
     {'from_status': LOG_STATUSES, 'to_status': LOG_STATUSES}),
]


def _check(model, table, name, columns):
    condition = ' AND '.join(
        f'"{column}" IN ({", ".join(repr(value) for value in values)})' for column, values in columns.items())
    constraint = models.CheckConstraint(
        condition=models.Q(*((f'{column}__in', values) for column, values in columns.items())), name=name)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddConstraint(model_name=model, constraint=constraint)],
        database_operations=[
            migrations.RunSQL(f'ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID',
                              f'ALTER TABLE {table} DROP CONSTRAINT {name}'),
            migrations.RunSQL(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}', migrations.RunSQL.noop),
        ],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('giftcards', '0004_delivery_outbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='giftcard',
            name='delivery_started_at',
            field=models.DateTimeField(blank=True, help_text='When the last send began, before the provider was called.', null=True),
        ),
        migrations.AddField(
            model_name='giftcard',
            name='queued_at',
            field=models.DateTimeField(blank=True, help_text='While queued: when its delivery task is due (dispatch, or a retry).', null=True),
        ),
        # Cards already queued count from now: the sweeper hands them out again if their task never comes.
        migrations.RunSQL("UPDATE gift_cards SET queued_at = now() WHERE delivery_status = 'queued'",
                          migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='giftcard',
            name='delivery_status',
            field=models.CharField(choices=[('not_sent', 'Not sent'), ('pending', 'Pending'), ('queued', 'Queued'), ('sending', 'Sending'), ('unconfirmed', 'Unconfirmed: check before sending again'), ('sent', 'Sent'), ('failed', 'Failed'), ('undeliverable', 'No email or phone')], default='not_sent', max_length=16),
        ),
        migrations.AlterField(
            model_name='giftcardlog',
            name='action',
            field=models.CharField(choices=[('imported', 'Imported'), ('assigned', 'Assigned'), ('claimed', 'Claimed'), ('delivered', 'Delivered'), ('delivery_failed', 'Delivery failed'), ('delivery_unconfirmed', 'Delivery unconfirmed'), ('delivery_resent', 'Sent again by staff'), ('redeemed', 'Redeemed'), ('voided', 'Voided'), ('expired', 'Expired'), ('revealed', 'Code revealed')], max_length=20),
        ),
        *[_check(*check) for check in CHECKS],
    ]
