from django.db import models


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PROOFED = "proofed", "Proofed"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PRODUCTION = "in_production", "In production"
    MAILED = "mailed", "Mailed"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
