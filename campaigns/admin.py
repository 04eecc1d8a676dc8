from django.contrib import admin

from .models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "status", "mail_date", "created_at"]
    list_filter = ["status", "client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    # Status changes go through the lifecycle service, never a free edit.
    readonly_fields = ["status"]
