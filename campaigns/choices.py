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


# The lifecycle: every legal move. Anything else is refused with a 409.
TRANSITIONS = {
    CampaignStatus.DRAFT: {CampaignStatus.PROOFED, CampaignStatus.CANCELLED},
    CampaignStatus.PROOFED: {CampaignStatus.APPROVED, CampaignStatus.DRAFT, CampaignStatus.CANCELLED},
    CampaignStatus.APPROVED: {CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED},
    CampaignStatus.SCHEDULED: {CampaignStatus.IN_PRODUCTION, CampaignStatus.CANCELLED},
    CampaignStatus.IN_PRODUCTION: {CampaignStatus.MAILED, CampaignStatus.CANCELLED},
    CampaignStatus.MAILED: {CampaignStatus.ACTIVE},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED, CampaignStatus.COMPLETED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE, CampaignStatus.COMPLETED},
    CampaignStatus.COMPLETED: set(),
    CampaignStatus.CANCELLED: set(),
}

# The mailing list and the template are frozen once the proof is approved.
EDITABLE_STATUSES = {CampaignStatus.DRAFT, CampaignStatus.PROOFED}
# A change to what was proofed (the template, the mailing list) sends a campaign in these back to draft.
PROOFED_STATUSES = {CampaignStatus.PROOFED, CampaignStatus.APPROVED}
# On its way to the printer: the pieces are rendered from the template as it is, so it may not change.
PRINTING_STATUSES = {CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION}
# Recipients can respond (PURL, QR, calls) once the pieces are in the mail.
RESPONDING_STATUSES = {CampaignStatus.MAILED, CampaignStatus.ACTIVE}
# In the mail and not over: responses come in, or will again once a paused campaign resumes.
LIVE_STATUSES = RESPONDING_STATUSES | {CampaignStatus.PAUSED}
# Pieces are out there: a visit counts as a response even if the campaign is paused or over.
MAILED_STATUSES = RESPONDING_STATUSES | {CampaignStatus.PAUSED, CampaignStatus.COMPLETED}
# Over for good: nobody will claim a reward from it again, so no gift card is assigned to it.
CLOSED_STATUSES = {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}


class MailSize(models.TextChoices):
    POSTCARD_4X6 = "4x6", "Postcard 4×6"
    POSTCARD_6X9 = "6x9", "Postcard 6×9"
    POSTCARD_6X11 = "6x11", "Postcard 6×11"
    LETTER = "letter", "Letter"


class RecipientStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    MAILED = "mailed", "Mailed"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned"
    RESPONDED = "responded", "Responded"
    REDEEMED = "redeemed", "Redeemed"


class ImportKind(models.TextChoices):
    RECIPIENTS = "recipients", "Recipients"
    GIFT_CARDS = "gift_cards", "Gift card codes"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# What the import sweeper looks after: a message may have been lost, a worker may have died.
UNFINISHED_IMPORT_STATUSES = [ImportStatus.PENDING, ImportStatus.RUNNING]


class ImportErrorPolicy(models.TextChoices):
    REJECT = "reject", "Import nothing if any row is invalid"
    SKIP = "skip", "Import the valid rows, report the others"
