from django.contrib import admin

from .models import PrintRun, PrintRunChunk, TemplateAsset


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
