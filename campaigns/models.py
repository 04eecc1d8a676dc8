import re

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q

from accounts.models import ApiKey, Client

from .choices import (
    UNFINISHED_IMPORT_STATUSES,
    CampaignStatus,
    ImportErrorPolicy,
    ImportKind,
    ImportStatus,
    MailSize,
    RecipientStatus,
)

MERGE_FIELD = re.compile(r"{{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*}}")
# Fields a template can use; columns beyond these in an import become custom merge fields.
STANDARD_MERGE_FIELDS = frozenset({
    "first_name", "last_name", "full_name", "company", "address1", "address2", "city", "state",
    "postal_code", "country", "phone", "email", "purl", "short_code", "campaign_name",
})


class MailTemplate(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(max_length=200)
    size = models.CharField(max_length=8, choices=MailSize.choices, default=MailSize.POSTCARD_6X9)
    front_html = models.TextField(help_text="HTML with merge fields like {{ first_name }} or {{ purl }}.")
    back_html = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "templates"
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name

    @property
    def merge_fields(self):
        return sorted(set(MERGE_FIELD.findall(self.front_html)) | set(MERGE_FIELD.findall(self.back_html)))

    @staticmethod
    def cache_key(pk):
        return f"templates:{pk}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        self._invalidate_cache()

    def delete(self, *args, **kwargs):
        self._invalidate_cache()
        return super().delete(*args, **kwargs)

    def _invalidate_cache(self):
        key = self.cache_key(self.pk)
        cache.delete(key)
        # Again after commit, so a read racing the transaction cannot re-cache the old version. Robust: the save
        # is committed by then, and a cache that is down holds the old version only until its timeout.
        transaction.on_commit(lambda: cache.delete(key), robust=True)


class Campaign(models.Model):
    # Indexed through idx_campaigns_client_status, whose leading column is client_id.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="campaigns", db_index=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    offer = models.TextField(blank=True, help_text="What the recipient gets, shown on their personal page.")
    template = models.ForeignKey(
        MailTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    gift_card_pool = models.ForeignKey(
        "giftcards.GiftCardPool", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns",
        help_text="Where this campaign's rewards come from.",
    )
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    mail_date = models.DateField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                               help_text="Total cost, for cost per response.")
    # Bumped by every change to the mailing list (services), so what a proof was made from is known without
    # reading millions of recipients.
    list_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "campaigns"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CampaignStatus.values), name="campaigns_status_valid"),
        ]
        indexes = [
            models.Index(fields=["client", "status"], name="idx_campaigns_client_status"),
            models.Index(
                fields=["mail_date"], condition=Q(status=CampaignStatus.MAILED), name="idx_campaigns_mail_date"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.template_id and self.client_id and self.template.client_id != self.client_id:
            raise ValidationError({"template": "The template belongs to another client."})
        if self.gift_card_pool_id and self.client_id and self.gift_card_pool.client_id != self.client_id:
            raise ValidationError({"gift_card_pool": "The gift-card pool belongs to another client."})


class LiveRecipientManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Recipient(models.Model):
    # Indexed through idx_recipients_campaign, whose leading column is campaign_id.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="recipients", db_index=False)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    address1 = models.CharField(max_length=200)
    address2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, default="US")
    phone = models.CharField(max_length=16, blank=True, help_text="E.164")
    email = models.EmailField(max_length=254, blank=True)
    external_id = models.CharField(max_length=100, blank=True, help_text="The client's own id for this person.")
    custom_fields = models.JSONField(default=dict, blank=True)
    redemption_token = models.CharField(max_length=64)
    short_code = models.CharField(max_length=16)
    dedupe_hash = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=RecipientStatus.choices, default=RecipientStatus.PENDING)
    gift_card = models.OneToOneField(
        "giftcards.GiftCard", on_delete=models.PROTECT, null=True, blank=True, related_name="holder",
        help_text="The card this recipient holds (assigned or claimed).",
    )
    import_job = models.ForeignKey(
        "ImportJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="recipients"
    )
    import_row = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=models.functions.Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=models.functions.Now())
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = LiveRecipientManager()
    all_objects = models.Manager()

    class Meta:
        db_table = "recipients"
        base_manager_name = "all_objects"
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["redemption_token"], name="idx_recipients_token"),
            models.UniqueConstraint(fields=["short_code"], name="recipients_short_code_key"),
            models.CheckConstraint(condition=Q(status__in=RecipientStatus.values), name="recipients_status_valid"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="idx_recipients_campaign"),
            models.Index(fields=["campaign", "dedupe_hash"], name="recipients_campaign_dedupe"),
            models.Index(fields=["phone"], condition=~Q(phone=""), name="recipients_phone"),
            models.Index(fields=["email"], condition=~Q(email=""), name="recipients_email"),
            # The dashboard's recipient list pages through a campaign in these orders (dashboard.selectors):
            # each page is an index range, whatever the campaign's size and the page's depth.
            models.Index(fields=["campaign", "last_name", "first_name", "id"], name="recipients_campaign_name"),
            models.Index(fields=["campaign", "created_at", "id"], name="recipients_campaign_created"),
            models.Index(fields=["campaign", "status", "id"], name="recipients_campaign_status_id"),
        ]

    def __str__(self):
        return self.full_name or self.company or f"Recipient {self.pk}"

    @property
    def full_name(self):
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def purl(self):
        return f"{settings.PUBLIC_BASE_URL}/r/{self.redemption_token}"


class LeasedJob(models.Model):
    """Work a Celery task does in the background for someone, and what its sweeper reads to hand it out again when
    its message was lost or its worker died (campaigns/jobs.py, mailpieces/print_runs.py)."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="While pending: when its task was last queued.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker started it.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When its latest attempt started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="While running: when its worker last said it was alive.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class ImportJob(LeasedJob):
    """A CSV import (recipients, or gift-card codes), processed by a Celery task with visible progress."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="import_jobs")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="import_jobs"
    )
    pool = models.ForeignKey(
        "giftcards.GiftCardPool", on_delete=models.PROTECT, null=True, blank=True, related_name="import_jobs"
    )
    kind = models.CharField(max_length=16, choices=ImportKind.choices, default=ImportKind.RECIPIENTS)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    on_error = models.CharField(max_length=8, choices=ImportErrorPolicy.choices, default=ImportErrorPolicy.REJECT)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_filename = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0, help_text="Estimated from the file until it is read.")
    rows_done = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    rows_duplicate = models.PositiveIntegerField(default=0)
    error_report = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    error_message = models.TextField(blank=True)
    column_map = models.JSONField(
        null=True, blank=True,
        help_text="Each column's target as mapped on the dashboard (a field, custom or ignore); "
                  "empty: recognised from the header.")

    class Meta:
        db_table = "import_jobs"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ImportStatus.values), name="import_jobs_status_valid"),
        ]
        indexes = [
            # The sweeper's lookup, every minute.
            models.Index(fields=["status"], condition=Q(status__in=UNFINISHED_IMPORT_STATUSES),
                         name="import_jobs_unfinished"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} import #{self.pk} ({self.get_status_display()})"

    @property
    def progress_percent(self):
        """The share of rows done: 100 once completed, never 100 before; a failed job shows how far it got."""
        if self.status == ImportStatus.COMPLETED:
            return 100
        if not self.rows_total:
            return 0
        share = int(self.rows_done * 100 / self.rows_total)
        return min(100 if self.status == ImportStatus.FAILED else 99, share)


class StagedImport(models.Model):
    """A recipient CSV uploaded on the dashboard, waiting for its columns to be mapped before it is imported. The
    file stays in storage (never re-uploaded); starting the import hands it to the ImportJob, and staged files
    older than STAGED_IMPORT_MAX_AGE_SECONDS are deleted with their row (campaigns.purge_staged_imports)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="staged_imports")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="staged_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to="imports/staged/%Y/%m/")
    original_filename = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    header = models.JSONField(default=list)
    samples = models.JSONField(default=list, help_text="The first rows, shown beside each column.")
    on_error = models.CharField(max_length=8, choices=ImportErrorPolicy.choices, default=ImportErrorPolicy.REJECT)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "staged_imports"

    def __str__(self):
        return f"Staged import #{self.pk} ({self.original_filename})"
