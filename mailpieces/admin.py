from django.contrib import admin

from .models import TemplateAsset


@admin.register(TemplateAsset)
class TemplateAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "width_px", "height_px", "created_at"]
    list_filter = ["client"]
    search_fields = ["name"]
    readonly_fields = ["width_px", "height_px", "created_at"]
    list_select_related = ["client"]
