from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.choices import Capability
from analytics.selectors import campaign_analytics
from campaigns import services
from campaigns.choices import CampaignStatus
from campaigns.export import EXPORT_FORMATS, export_response
from campaigns.models import Campaign
from mailpieces.choices import UNFINISHED_PROOF_STATUSES
from mailpieces.proofs import latest_proof
from mobul.exceptions import DomainError

from .. import exports, selectors
from ..caching import revalidated
from ..charts import funnel_chart, trend_chart
from ..forms import (AnalyticsPeriodForm, CampaignFilterForm, CampaignForm, RecipientListForm, TransitionForm,
                     add_service_error)
from ..tenancy import dashboard_view, scoped_object

LIST_LIMIT = 100
TREND_DAYS = (7, 30, 90)
# Buttons for the next steps, in the order a campaign normally moves.
STEP_ORDER = [CampaignStatus.PROOFED, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION,
              CampaignStatus.MAILED, CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.COMPLETED,
              CampaignStatus.DRAFT, CampaignStatus.CANCELLED]
STEP_LABELS = {
    CampaignStatus.PROOFED: "Mark proofed", CampaignStatus.APPROVED: "Approve proof",
    CampaignStatus.SCHEDULED: "Schedule", CampaignStatus.IN_PRODUCTION: "Send to production",
    CampaignStatus.MAILED: "Mark mailed", CampaignStatus.ACTIVE: "Activate", CampaignStatus.PAUSED: "Pause",
    CampaignStatus.COMPLETED: "Complete", CampaignStatus.DRAFT: "Back to draft", CampaignStatus.CANCELLED: "Cancel",
}


def campaign_object(request, campaign_id, capability=Capability.VIEW):
    return scoped_object(request, Campaign.objects.select_related("client", "template", "gift_card_pool"),
                         campaign_id, client_lookup="client", capability=capability)


@revalidated
@dashboard_view()
def campaign_list(request):
    form = CampaignFilterForm(request.GET or None)
    campaigns = Campaign.objects.filter(client=request.client)
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            campaigns = campaigns.filter(name__icontains=data["q"])
        if data["status"]:
            campaigns = campaigns.filter(status=data["status"])
        if data["mail_date_from"]:
            campaigns = campaigns.filter(mail_date__gte=data["mail_date_from"])
        if data["mail_date_to"]:
            campaigns = campaigns.filter(mail_date__lte=data["mail_date_to"])
    elif form.is_bound:
        campaigns = campaigns.none()
    campaigns = list(campaigns.order_by("-created_at", "-pk")[:LIST_LIMIT + 1])
    truncated, campaigns = len(campaigns) > LIST_LIMIT, campaigns[:LIST_LIMIT]
    numbers = selectors.mailed_and_responses(campaigns)
    for campaign in campaigns:
        campaign.mailed, campaign.responses = numbers[campaign.pk]
    return render(request, "dashboard/campaigns/list.html", {
        "form": form, "campaigns": campaigns, "truncated": truncated,
    })


@never_cache
@dashboard_view(capability=Capability.MANAGE_CAMPAIGNS, methods=("GET", "POST"))
def campaign_create(request):
    form = CampaignForm(request.POST or None, client=request.client)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.create_campaign(client=request.client, request=request, **form.cleaned_data)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created as a draft.")
            return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)
    return render(request, "dashboard/campaigns/form.html", {"form": form, "campaign": None}, status=_status(form))


@never_cache
@dashboard_view(capability=None, methods=("GET", "POST"))
def campaign_edit(request, campaign_id):
    campaign = campaign_object(request, campaign_id, Capability.MANAGE_CAMPAIGNS)
    form = CampaignForm(request.POST or None, client=campaign.client, initial=CampaignForm.initial_for(campaign))
    if request.method == "POST" and form.is_valid():
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.update_campaign(campaign=campaign, request=request, **changed)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Changes saved." if changed else "Nothing changed.")
            return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)
    return render(request, "dashboard/campaigns/form.html", {"form": form, "campaign": campaign},
                  status=_status(form))


def _status(form):
    return 400 if form.is_bound and form.errors else 200


def next_steps(campaign):
    allowed = set(services.allowed_transitions(campaign))
    return [{"status": step.value, "label": STEP_LABELS[step], "danger": step == CampaignStatus.CANCELLED,
             "refused": services.transition_refusal(campaign, step)}
            for step in STEP_ORDER if step in allowed]


def proof_context(campaign):
    """The proof section: the newest proof, whether it is current, and each piece with its findings."""
    proof, current = latest_proof(campaign)
    pieces = list(proof.pieces.all()) if proof else []
    for piece in pieces:
        piece.findings = [finding for finding in proof.findings if finding["position"] == piece.position]
    return {"proof": proof, "proof_current": current, "proof_pieces": pieces,
            "proof_unfinished": proof is not None and proof.status in UNFINISHED_PROOF_STATUSES}


@revalidated
@dashboard_view(capability=None)
def campaign_detail(request, campaign_id):
    campaign = campaign_object(request, campaign_id)
    period = AnalyticsPeriodForm(request.GET if {"from", "to"} & request.GET.keys() else None)
    if period.is_valid():
        # A chosen period: the funnel and the trend both cover it.
        start, end, days = period.cleaned_data["from"], period.cleaned_data["to"], None
        analytics = trend = campaign_analytics(campaign=campaign, start=start, end=end)
    else:
        days = {str(choice): choice for choice in TREND_DAYS}.get(request.GET.get("days", ""), 30)
        end = timezone.localdate()
        start = end - timedelta(days=days - 1)
        analytics = campaign_analytics(campaign=campaign, start=selectors.ALL_TIME_START, end=end)
        trend = campaign_analytics(campaign=campaign, start=start, end=end)
    return render(request, "dashboard/campaigns/detail.html", {
        "campaign": campaign,
        "can_manage": Capability.MANAGE_CAMPAIGNS in request.capabilities,
        "steps": next_steps(campaign),
        "analytics": analytics,
        "funnel": funnel_chart(analytics["funnel"]),
        "trend": trend_chart(trend["daily"], start, end),
        "days": days, "day_choices": TREND_DAYS, "period": period, "start": start, "end": end,
        "recipient_count": campaign.recipients.count(),
        "calls": selectors.recent_calls(campaign),
        "redemptions": selectors.recent_redemptions(campaign),
        "pool": selectors.pool_with_stock(campaign.gift_card_pool_id),
        "imports": campaign.import_jobs.order_by("-created_at", "-pk")[:5],
        "history": selectors.status_history(campaign),
        **proof_context(campaign),
    }, status=400 if period.errors else 200)


@dashboard_view(capability=None, methods=("POST",))
def campaign_transition(request, campaign_id):
    campaign = campaign_object(request, campaign_id, Capability.MANAGE_CAMPAIGNS)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the next steps shown on the page.")
    else:
        try:
            campaign = services.transition_campaign(campaign=campaign, to_status=form.cleaned_data["to"],
                                                    reason=form.cleaned_data["reason"], request=request)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"The campaign is now {campaign.get_status_display().lower()}.")
    return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)


@dashboard_view(capability=None)
def campaign_export(request, campaign_id):
    campaign = campaign_object(request, campaign_id)
    output = request.GET.get("output", "csv")
    if output not in EXPORT_FORMATS:
        messages.error(request, "Choose CSV or ZIP for the print file.")
        return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)
    return export_response(campaign, output)


@never_cache
@dashboard_view(capability=None)
def campaign_recipients(request, campaign_id):
    campaign = campaign_object(request, campaign_id)
    form = RecipientListForm(request.GET or None)
    recipients, next_after = [], None
    if form.is_valid() or not form.is_bound:
        recipients, next_after = selectors.recipient_page(campaign, **form.page_options())
    query = request.GET.copy()
    query.pop("after", None)
    return render(request, "dashboard/campaigns/recipients.html", {
        "campaign": campaign, "form": form, "recipients": recipients, "next_after": next_after,
        "query": query.urlencode(), "paged": bool(request.GET.get("after")),
        "page_size": selectors.RECIPIENT_PAGE_SIZE,
    }, status=_status(form))


@dashboard_view(capability=None)
def campaign_recipients_csv(request, campaign_id):
    return exports.recipients_csv(campaign_object(request, campaign_id))


@dashboard_view(capability=None)
def campaign_results_csv(request, campaign_id):
    return exports.results_csv(campaign_object(request, campaign_id))
