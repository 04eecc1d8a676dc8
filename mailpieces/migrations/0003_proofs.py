"""Proofs of campaigns (versioned, with progress and their preflight findings) and their sample pieces."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_audit_logs_append_only'),
        ('campaigns', '0004_campaign_list_version'),
        ('mailpieces', '0002_print_runs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Proof',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('status', models.CharField(choices=[('pending', 'Waiting for a worker'), ('running', 'Rendering'), ('ready', 'Ready'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('fingerprint', models.CharField(max_length=64)),
                ('pieces_total', models.PositiveSmallIntegerField(default=0)),
                ('pieces_done', models.PositiveSmallIntegerField(default=0)),
                ('pdf', models.FileField(blank=True, upload_to='proofs/%Y/%m/')),
                ('findings', models.JSONField(blank=True, default=list, help_text='Preflight findings of every sample piece.')),
                ('error_message', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('queued_at', models.DateTimeField(blank=True, help_text='While pending: when its task was last queued.', null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, help_text='While running: when its worker last finished a piece.', null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('api_key', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.apikey')),
                ('campaign', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='proofs', to='campaigns.campaign')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'proofs',
                'ordering': ['campaign', '-version'],
            },
        ),
        migrations.CreateModel(
            name='ProofPiece',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField(help_text="1 for the proof PDF's first piece, and so on.")),
                ('reasons', models.JSONField(default=list, help_text='SampleReason values.')),
                ('front_thumbnail', models.ImageField(blank=True, upload_to='proofs/%Y/%m/')),
                ('back_thumbnail', models.ImageField(blank=True, upload_to='proofs/%Y/%m/')),
                ('proof', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='pieces', to='mailpieces.proof')),
                ('recipient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='campaigns.recipient')),
            ],
            options={
                'db_table': 'proof_pieces',
                'ordering': ['proof', 'position'],
            },
        ),
        migrations.AddIndex(
            model_name='proof',
            index=models.Index(condition=models.Q(('status__in', ['pending', 'running'])), fields=['status'], name='proofs_unfinished'),
        ),
        migrations.AddConstraint(
            model_name='proof',
            constraint=models.UniqueConstraint(fields=('campaign', 'version'), name='proofs_campaign_version'),
        ),
        migrations.AddConstraint(
            model_name='proof',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'running', 'ready', 'failed'])), name='proofs_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='proofpiece',
            constraint=models.UniqueConstraint(fields=('proof', 'position'), name='proof_pieces_proof_position'),
        ),
    ]
