from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from campaigns.admin import CampaignAdmin
from mobul.admin import ReadOnlyAdminMixin

from .models import PrintRun, PrintRunChunk, Proof, ProofPiece, TemplateAsset
from .proofs import describe_finding, is_current


@admin.register(TemplateAsset)
class TemplateAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "width_px", "height_px", "created_at"]
    list_filter = ["client"]
    search_fields = ["name"]
    readonly_fields = ["width_px", "height_px", "created_at"]
    list_select_related = ["client"]


class PrintRunChunkInline(admin.TabularInline):
    model = PrintRunChunk
    fields = ["number", "status", "first_recipient_id", "last_recipient_id", "pieces", "pages", "findings_total",
              "attempts", "file", "done_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PrintRun)
class PrintRunAdmin(admin.ModelAdmin):
    """Read-only: runs are started from the campaign (its action "Render print files", the dashboard, the API)."""

    list_display = ["__str__", "campaign", "status", "progress", "findings_total", "attempts", "created_at",
                    "finished_at"]
    list_filter = ["status"]
    search_fields = ["campaign__name", "campaign__client__name"]
    list_select_related = ["campaign"]
    inlines = [PrintRunChunkInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in PrintRun._meta.fields] + ["progress"]

    @admin.display(description="Progress")
    def progress(self, run):
        return f"{run.progress_percent} % ({run.pieces_done}/{run.pieces_total} pieces)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FindingCountMixin:
    @admin.display(description="Findings")
    def finding_count(self, proof):
        return len(proof.findings)


class ProofPieceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ProofPiece
    fields = ["position", "recipient", "get_reasons_display", "front_thumbnail", "back_thumbnail"]
    readonly_fields = fields
    extra = 0


@admin.register(Proof)
class ProofAdmin(FindingCountMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Proofs are made by their task and never edited: staff look, and download the files."""

    list_display = ["__str__", "campaign", "version", "status", "current", "finding_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["campaign__name"]
    list_select_related = ["campaign__template"]
    raw_id_fields = ["campaign"]
    fields = ["campaign", "version", "status", "current", "pieces_done", "pieces_total", "pdf", "findings_list",
              "error_message", "created_by", "api_key", "created_at", "queued_at", "started_at", "heartbeat_at",
              "finished_at"]
    readonly_fields = fields
    inlines = [ProofPieceInline]
    show_full_result_count = False

    @admin.display(boolean=True, description="Current")
    def current(self, proof):
        return is_current(proof, proof.campaign)

    @admin.display(description="Findings")
    def findings_list(self, proof):
        if not proof.findings:
            return "None"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", (
            (describe_finding(finding),) for finding in proof.findings)))


class CampaignProofInline(FindingCountMixin, ReadOnlyAdminMixin, admin.TabularInline):
    model = Proof
    fields = ["link", "status", "pieces_done", "pieces_total", "finding_count", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = False
    ordering = ["-version"]

    @admin.display(description="Proof")
    def link(self, proof):
        return format_html('<a href="{}">v{}</a>', reverse("admin:mailpieces_proof_change", args=[proof.pk]),
                           proof.version)


# campaigns knows nothing of proofs: their inline joins the campaign's page from here.
CampaignAdmin.inlines = [*CampaignAdmin.inlines, CampaignProofInline]
