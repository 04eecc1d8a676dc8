from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from mobul.admin import apply_to_each

from . import services
from .choices import EDITABLE_STATUSES, CampaignStatus, ImportErrorPolicy
from .exceptions import CampaignLocked, ImportFileRejected
from .imports import inspect_upload
from .models import Campaign, ImportJob, MailTemplate, Recipient
from .services import PRINTED_RECIPIENT_FIELDS
from .normalize import normalize_phone
from .tokens import normalize_short_code


@admin.register(MailTemplate)
class MailTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "size", "updated_at"]
    list_filter = ["size", "client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    readonly_fields = ["merge_fields", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "client"}
        if change:
            services.update_template(template=obj, request=request, **fields)
        else:
            created = services.create_template(client=form.cleaned_data["client"], request=request, **fields)
            obj.pk, obj._state.adding = created.pk, False


def _transition_action(target):
    def action(modeladmin, request, queryset):
        moved = apply_to_each(modeladmin, request, queryset, lambda campaign: services.transition_campaign(
            campaign=campaign, to_status=target, request=request))
        if moved:
            modeladmin.message_user(request, f"{len(moved)} campaign(s) moved to {target.label}.", messages.SUCCESS)

    action.__name__ = f"transition_to_{target.value}"
    action.short_description = f"Move to {target.label}"
    return action


@admin.action(description="Render print files")
def render_print_files(modeladmin, request, queryset):
    # mailpieces depends on campaigns, so its service is looked up only when needed.
    from mailpieces.print_runs import start_print_run

    started = apply_to_each(modeladmin, request, queryset,
                            lambda campaign: start_print_run(campaign=campaign, request=request))
    if started:
        runs = ", ".join(f"#{run.pk}" for run in started)
        modeladmin.message_user(request, f"Print run(s) {runs} started; follow them under Mail pieces › Print runs.",
                                messages.SUCCESS)


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["client", "name", "description", "offer", "template", "mail_date", "cost"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "template" in self.changed_data and self.instance.status not in EDITABLE_STATUSES:
            self.add_error("template", CampaignLocked.default_message)
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "client", "status", "mail_date", "template", "created_at"]
    list_filter = ["status", ("mail_date", admin.DateFieldListFilter), "client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client", "template"]
    autocomplete_fields = ["client", "template"]
    readonly_fields = ["status", "status_changed_at", "created_at", "updated_at"]
    actions = [_transition_action(status) for status in CampaignStatus if status != CampaignStatus.DRAFT] + [
        _transition_action(CampaignStatus.DRAFT), render_print_files,
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "client"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "client"}
        if change:
            services.update_campaign(campaign=obj, request=request, **fields)
        else:
            created = services.create_campaign(client=form.cleaned_data["client"], request=request, **fields)
            obj.pk, obj._state.adding = created.pk, False


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ["__str__", "campaign", "city", "postal_code", "phone", "email", "status", "created_at"]
    list_filter = ["status"]
    # Exact matches on indexed columns plus a name prefix: usable on millions of rows.
    search_fields = ["=redemption_token", "=email", "=phone", "^last_name"]
    search_help_text = "A redemption token, the printed code, an email, a phone number (any format) or a last name."
    list_select_related = ["campaign"]
    readonly_fields = ["redemption_token", "short_code", "dedupe_hash", "import_job", "import_row", "created_at",
                       "updated_at", "deleted_at"]
    raw_id_fields = ["campaign"]
    show_full_result_count = False

    def get_queryset(self, request):
        return Recipient.all_objects.all()

    def get_search_results(self, request, queryset, search_term):
        code = normalize_short_code(search_term)
        if code:
            return queryset.filter(short_code=code), False
        try:
            phone = normalize_phone(search_term)
        except ValidationError:
            phone = ""
        if phone:
            return queryset.filter(phone=phone), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        # Recipients arrive through imports or the API, which normalise and de-duplicate them.
        return False

    def save_model(self, request, obj, form, change):
        """A change to what the piece prints changes its campaign's list (and a move, both campaigns' lists), as an
        import does: the campaign's proofs go stale, a proofed or approved one goes back to draft."""
        columns = {name: "campaign_id" if name == "campaign" else name for name in PRINTED_RECIPIENT_FIELDS}
        before = Recipient.all_objects.values(*columns.values()).get(pk=obj.pk)
        printed = sorted(name for name, column in columns.items() if before[column] != getattr(obj, column))
        campaign_ids = sorted({obj.campaign_id, before["campaign_id"]}) if printed else []
        # Locked first, in pk order, as every other writer of a campaign's list locks it.
        campaigns = list(Campaign.objects.select_for_update().filter(pk__in=campaign_ids).order_by("pk"))
        super().save_model(request, obj, form, change)
        for campaign in campaigns:
            services.list_changed(campaign=campaign, reason=f"Recipient {obj} was edited ({', '.join(printed)}).",
                                  request=request)

    def has_delete_permission(self, request, obj=None):
        return False


class ImportJobAdminForm(forms.ModelForm):
    upload = forms.FileField(label="CSV file", help_text="UTF-8 CSV with a header row.")

    class Meta:
        model = ImportJob
        fields = ["campaign", "on_error"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].required = True
        self.fields["on_error"].initial = ImportErrorPolicy.REJECT

    def clean(self):
        cleaned = super().clean()
        campaign, upload = cleaned.get("campaign"), cleaned.get("upload")
        if campaign is not None and campaign.status not in EDITABLE_STATUSES:
            self.add_error("campaign", CampaignLocked.default_message)
        if upload is not None:
            try:
                inspect_upload(upload)
            except ImportFileRejected as error:
                self.add_error("upload", error.message)
        return cleaned


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["__str__", "campaign", "status", "progress", "rows_imported", "rows_invalid", "rows_duplicate",
                    "error_report_link", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["original_filename", "campaign__name"]
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ImportJobAdminForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["campaign", "on_error", "upload"] if obj is None else [
            "client", "campaign", "kind", "status", "on_error", "original_filename", "size_bytes", "progress",
            "rows_total", "rows_done", "rows_imported", "rows_invalid", "rows_duplicate", "error_message",
            "error_report_link", "created_by", "api_key", "created_at", "started_at", "finished_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        job = services.start_recipient_import(
            campaign=form.cleaned_data["campaign"], uploaded_file=form.cleaned_data["upload"],
            on_error=form.cleaned_data["on_error"], request=request,
        )
        obj.pk, obj._state.adding = job.pk, False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Progress")
    def progress(self, job):
        return f"{job.progress_percent} % ({job.rows_done}/{job.rows_total})"

    @admin.display(description="Error report")
    def error_report_link(self, job):
        if not job.error_report:
            return "—"
        return format_html('<a href="{}">Download</a>', reverse("import-errors", args=[job.pk]))
