from django.db import models
from django.db.models import Q

from accounts.models import Client

from .choices import CampaignStatus


class Campaign(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    mail_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "campaigns"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["client", "status"], name="idx_campaigns_client_status"),
            models.Index(
                fields=["mail_date"], condition=Q(status=CampaignStatus.MAILED), name="idx_campaigns_mail_date"
            ),
        ]

    def __str__(self):
        return self.name
