from django.contrib import admin

from .models import MailScan

# Event is not here: Django's admin refuses models with a composite primary key.


@admin.register(MailScan)
class MailScanAdmin(admin.ModelAdmin):
    """Read-only: scans arrive only through the print vendor's signed webhook."""

    list_display = ["scan_id", "status", "recipient", "scanned_at", "received_at"]
    list_filter = ["status", ("scanned_at", admin.DateFieldListFilter), ("received_at", admin.DateFieldListFilter)]
    # Exact matches on unique columns: usable at one row per mail piece.
    search_fields = ["=scan_id", "=recipient__redemption_token"]
    search_help_text = "A scan id or a recipient's redemption token."
    list_select_related = ["recipient"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
