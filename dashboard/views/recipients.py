from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts.choices import Capability
from campaigns import services
from campaigns.choices import EDITABLE_STATUSES, ImportKind, ImportStatus
from campaigns.imports import first_errors
from campaigns.models import ImportJob, Recipient, StagedImport
from mobul.exceptions import DomainError

from .. import selectors
from ..forms import ColumnMappingForm, CsvUploadForm, RecipientSearchForm, add_service_error
from ..tenancy import dashboard_view, scoped_object
from .campaigns import campaign_object

FINISHED = (ImportStatus.COMPLETED, ImportStatus.FAILED)


@never_cache
@dashboard_view()
def recipient_search(request):
    form = RecipientSearchForm(request.GET or None, client=request.client)
    results = []
    if form.is_valid():
        results = selectors.search_recipients(request.client, form.cleaned_data["q"] or "",
                                              form.cleaned_data["campaign"])
    elif not form.is_bound:
        results = selectors.search_recipients(request.client, "")
    return render(request, "dashboard/recipients/search.html", {
        "form": form, "results": results, "limit": selectors.SEARCH_LIMIT,
    })


@never_cache
@dashboard_view(capability=None)
def recipient_detail(request, recipient_id):
    recipient = scoped_object(request, Recipient.objects.select_related("campaign", "gift_card__pool"),
                              recipient_id, client_lookup="campaign__client")
    return render(request, "dashboard/recipients/detail.html", {
        "recipient": recipient,
        "events": selectors.recipient_timeline(recipient),
        "calls": recipient.call_sessions.order_by("-call_started_at")[:20],
    })


@never_cache
@dashboard_view(capability=None, methods=("GET", "POST"))
def recipient_import(request, campaign_id):
    campaign = campaign_object(request, campaign_id, Capability.MANAGE_CAMPAIGNS)
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            staged = services.stage_recipient_import(campaign=campaign, uploaded_file=form.cleaned_data["file"],
                                                     on_error=form.cleaned_data["on_error"], request=request)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            return redirect("dashboard:campaign_import_mapping", staged_import_id=staged.pk)
    return render(request, "dashboard/recipients/import.html", {
        "form": form, "campaign": campaign, "editable": campaign.status in EDITABLE_STATUSES,
        "imports": campaign.import_jobs.order_by("-created_at", "-pk")[:10],
    }, status=400 if form.is_bound and form.errors else 200)


@never_cache
@dashboard_view(capability=None, methods=("GET", "POST"))
def import_mapping(request, staged_import_id):
    """Step 2 of an import: each column of the uploaded file mapped to a field, a merge field, or left out."""
    staged = scoped_object(request, StagedImport.objects.select_related("campaign", "client"), staged_import_id,
                           client_lookup="client", capability=Capability.MANAGE_CAMPAIGNS)
    if request.method == "POST" and "discard" in request.POST:
        services.discard_staged_import(staged=staged)
        return redirect("dashboard:recipient_import", campaign_id=staged.campaign_id)
    form = ColumnMappingForm(request.POST or None, staged=staged)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.start_staged_import(staged=staged, mapping=form.mapping(), request=request)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            return redirect("dashboard:import_progress", import_id=job.pk)
    return render(request, "dashboard/imports/mapping.html", {
        "form": form, "staged": staged, "campaign": staged.campaign,
    }, status=400 if form.is_bound and form.errors else 200)


def _job(request, import_id):
    return scoped_object(request, ImportJob.objects.select_related("campaign", "pool"), import_id,
                         client_lookup="client")


def _job_context(job):
    # A failed import has no progress to show: the page shows why it failed instead of a bar short of 100 %.
    finished = job.status in FINISHED
    return {"job": job, "finished": finished, "failed": job.status == ImportStatus.FAILED,
            "back_url": _back_url(job), "first_errors": first_errors(job) if finished else []}


def _back_url(job):
    if job.kind == ImportKind.GIFT_CARDS and job.pool_id:
        return reverse("dashboard:pool_detail", kwargs={"pool_id": job.pool_id})
    return reverse("dashboard:campaign_detail", kwargs={"campaign_id": job.campaign_id})


@never_cache
@dashboard_view(capability=None)
def import_progress(request, import_id):
    return render(request, "dashboard/imports/progress.html", _job_context(_job(request, import_id)))


@never_cache
@dashboard_view(capability=None)
def import_status(request, import_id):
    """What the progress page polls: numbers for the bar, and the result panel once the job has finished."""
    job = _job(request, import_id)
    context = _job_context(job)
    return JsonResponse({
        "status": job.status, "status_label": job.get_status_display(), "percent": job.progress_percent,
        "rows_done": job.rows_done, "rows_total": job.rows_total, "finished": context["finished"],
        "failed": context["failed"],
        "result_html": render_to_string("dashboard/imports/_result.html", context, request=request)
        if context["finished"] else "",
    })


@dashboard_view(capability=None)
def import_errors(request, import_id):
    job = _job(request, import_id)
    if not job.error_report:
        raise Http404("This import has no error report.")
    return FileResponse(job.error_report.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv",
                        content_type="text/csv")
