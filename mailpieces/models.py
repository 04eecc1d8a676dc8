from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from accounts.models import ApiKey, Client
from campaigns.models import Campaign, LeasedJob
from mobul.validators import MaxFileSizeValidator

from .choices import (
    ACTIVE_PRINT_RUN_STATUSES,
    UNFINISHED_PROOF_STATUSES,
    PrintChunkStatus,
    PrintRunStatus,
    ProofStatus,
    SampleReason,
    Side,
)

ASSET_NAME = RegexValidator(r"^[a-z0-9][a-z0-9_.-]*$", "Lower-case letters, digits, dots, dashes and underscores.")


class TemplateAsset(models.Model):
    """An image a client uploads for its templates, which reach it as `asset:NAME` (their own client's only)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="template_assets", db_index=False)
    name = models.CharField(max_length=100, validators=[ASSET_NAME])
    # Print-resolution images: 300 dpi over a letter page is about 2,600 × 3,300 px.
    image = models.ImageField(upload_to="template-assets/%Y/%m/", width_field="width_px", height_field="height_px",
                              validators=[MaxFileSizeValidator(25 * 1_048_576)])
    width_px = models.PositiveIntegerField(editable=False)
    height_px = models.PositiveIntegerField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "template_assets"
        ordering = ["client", "name"]
        constraints = [models.UniqueConstraint(fields=["client", "name"], name="template_assets_client_name")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A file given to a new asset by `image.save()` (not by a form) has not been measured yet.
        if self.width_px is None and self.image:
            self._meta.get_field("image").update_dimension_fields(self, force=True)
        super().save(*args, **kwargs)


class PrintRun(LeasedJob):
    """The whole campaign rendered into print-ready PDF files of `chunk_pieces` pieces (front, back of each, by
    recipient id), with the vendor's data manifest and every piece's preflight findings (mailpieces.print_runs)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="print_runs")
    status = models.CharField(max_length=16, choices=PrintRunStatus.choices, default=PrintRunStatus.PENDING)
    chunk_pieces = models.PositiveIntegerField(help_text="Pieces per PDF file, fixed when the run was started.")
    chunks_total = models.PositiveIntegerField(default=0, help_text="Known once the run has planned its chunks.")
    chunks_done = models.PositiveIntegerField(default=0)
    pieces_total = models.PositiveIntegerField(default=0, help_text="Known once the run has planned its chunks.")
    pieces_done = models.PositiveIntegerField(default=0)
    findings_total = models.PositiveIntegerField(default=0)
    pieces_with_findings = models.PositiveIntegerField(default=0)
    manifest = models.CharField(max_length=255, blank=True, help_text="Storage name of the data manifest (CSV).")
    findings = models.CharField(max_length=255, blank=True, help_text="Storage name of the preflight findings (CSV).")
    error_message = models.TextField(blank=True)

    class Meta:
        db_table = "print_runs"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PrintRunStatus.values), name="print_runs_status_valid"),
            models.UniqueConstraint(fields=["campaign"], condition=Q(status__in=ACTIVE_PRINT_RUN_STATUSES),
                                    name="print_runs_one_active"),
        ]
        indexes = [
            # The sweeper's lookup, every minute.
            models.Index(fields=["status"], condition=Q(status__in=ACTIVE_PRINT_RUN_STATUSES),
                         name="print_runs_active"),
        ]

    def __str__(self):
        return f"Print run #{self.pk} ({self.get_status_display()})"

    @property
    def progress_percent(self):
        """The share of pieces stored: 100 once completed, never 100 before."""
        if self.status == PrintRunStatus.COMPLETED:
            return 100
        if not self.pieces_total:
            return 0
        return min(99, int(self.pieces_done * 100 / self.pieces_total))


class PrintRunChunk(models.Model):
    """One PDF file of a run: the live recipients whose ids are in [first_recipient_id, last_recipient_id], fixed
    when the run is planned, so a resumed run renders exactly the same pieces into exactly the same file."""

    run = models.ForeignKey(PrintRun, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    number = models.PositiveIntegerField(help_text="1, 2, ...: the file's place in the run.")
    first_recipient_id = models.BigIntegerField()
    last_recipient_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=PrintChunkStatus.choices, default=PrintChunkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker started rendering it.")
    pieces = models.PositiveIntegerField(help_text="As planned; once done, as rendered.")
    pages = models.PositiveIntegerField(default=0)
    findings_total = models.PositiveIntegerField(default=0)
    pieces_with_findings = models.PositiveIntegerField(default=0)
    file = models.CharField(max_length=255, blank=True, help_text="Storage name of the PDF, once done.")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "print_run_chunks"
        ordering = ["run", "number"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PrintChunkStatus.values),
                                   name="print_run_chunks_status_valid"),
            models.UniqueConstraint(fields=["run", "number"], name="print_run_chunks_run_number"),
        ]

    def __str__(self):
        return f"Chunk {self.number} of print run #{self.run_id}"


class Proof(models.Model):
    """A rendered sample of a campaign's pieces (PDF, thumbnails, preflight findings), made by a Celery task.

    `fingerprint` is what it was made from (the template and the campaign's list_version): a proof whose
    fingerprint is no longer the campaign's is stale, and proofs nothing."""

    # Indexed through proofs_campaign_version, whose leading column is campaign_id.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="proofs", db_index=False)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ProofStatus.choices, default=ProofStatus.PENDING)
    fingerprint = models.CharField(max_length=64)
    pieces_total = models.PositiveSmallIntegerField(default=0)
    pieces_done = models.PositiveSmallIntegerField(default=0)
    pdf = models.FileField(upload_to="proofs/%Y/%m/", blank=True)
    findings = models.JSONField(default=list, blank=True, help_text="Preflight findings of every sample piece.")
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="While pending: when its task was last queued.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="While running: when its worker last finished a piece.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "proofs"
        ordering = ["campaign", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "version"], name="proofs_campaign_version"),
            models.CheckConstraint(condition=Q(status__in=ProofStatus.values), name="proofs_status_valid"),
        ]
        indexes = [
            # The sweeper's lookup, every minute.
            models.Index(fields=["status"], condition=Q(status__in=UNFINISHED_PROOF_STATUSES),
                         name="proofs_unfinished"),
        ]

    def __str__(self):
        return f"Proof v{self.version} of {self.campaign}"

    @property
    def progress_percent(self):
        if self.status == ProofStatus.READY:
            return 100
        return min(99, int(self.pieces_done * 100 / self.pieces_total)) if self.pieces_total else 0


class ProofPiece(models.Model):
    """One sample piece of a proof: whose it is, why it was chosen, and thumbnails of its two sides."""

    proof = models.ForeignKey(Proof, on_delete=models.CASCADE, related_name="pieces", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="1 for the proof PDF's first piece, and so on.")
    recipient = models.ForeignKey("campaigns.Recipient", on_delete=models.PROTECT, related_name="+")
    reasons = models.JSONField(default=list, help_text="SampleReason values.")
    front_thumbnail = models.ImageField(upload_to="proofs/%Y/%m/", blank=True)
    back_thumbnail = models.ImageField(upload_to="proofs/%Y/%m/", blank=True)

    class Meta:
        db_table = "proof_pieces"
        ordering = ["proof", "position"]
        constraints = [
            models.UniqueConstraint(fields=["proof", "position"], name="proof_pieces_proof_position"),
        ]

    def __str__(self):
        return f"Piece {self.position} of {self.proof}"

    def thumbnail(self, side):
        return self.front_thumbnail if side == Side.FRONT else self.back_thumbnail

    def get_reasons_display(self):
        return ", ".join(SampleReason(reason).label for reason in self.reasons)
