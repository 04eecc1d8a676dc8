from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from accounts.models import Client
from campaigns.models import LeasedJob

from .choices import ACTIVE_PRINT_RUN_STATUSES, PrintChunkStatus, PrintRunStatus

ASSET_NAME = RegexValidator(r"^[a-z0-9][a-z0-9_.-]*$", "Lower-case letters, digits, dots, dashes and underscores.")


class TemplateAsset(models.Model):
    """An image a client uploads for its templates, which reach it as `asset:NAME` (their own client's only)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="template_assets", db_index=False)
    name = models.CharField(max_length=100, validators=[ASSET_NAME])
    image = models.ImageField(upload_to="template-assets/%Y/%m/", width_field="width_px", height_field="height_px")
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
