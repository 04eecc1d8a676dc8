"""The call-center agent's screen: live and recent calls of every client the agent works calls for (the list
refreshes in place, see app.js), a caller search, and a call's page to match the caller, record a disposition
and send the reward once the agent confirms the condition."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from accounts.access import clients_for
from accounts.choices import Capability
from calltracking import selectors, services
from calltracking.choices import MatchMethod
from calltracking.forms import DispositionForm, FindRecipientForm
from calltracking.models import CallSession
from campaigns.models import Recipient
from mobul.exceptions import DomainError

from ..forms import CallerSearchForm
from ..tenancy import ROLE_MESSAGES, dashboard_view, scoped_object


def _calls_context(request):
    if not clients_for(request.user, Capability.HANDLE_CALLS).exists():
        raise PermissionDenied(ROLE_MESSAGES[Capability.HANDLE_CALLS])
    calls = selectors.calls_for_agent(request.user)
    form = CallerSearchForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    if query:
        calls = selectors.search_calls(calls, query)
    live, recent = selectors.split_live(calls)
    return {"form": form, "query": query, "live": live, "recent": recent}


@never_cache
@dashboard_view(capability=None)
def agent_calls(request):
    return render(request, "dashboard/agent/calls.html", _calls_context(request))


@never_cache
@dashboard_view(capability=None)
def agent_calls_live(request):
    """The two call lists alone, for the open agent screen to swap in."""
    return render(request, "dashboard/agent/_calls.html", _calls_context(request))


@never_cache
@dashboard_view(capability=None, methods=("GET", "POST"))
def agent_call(request, call_id):
    # Among the calls the user may see (another tenant's is a 404), then the right to work them (else a 403).
    session = scoped_object(request, CallSession.objects.select_related("campaign__client", "tracking_number",
                                                                        "recipient", "agent"), call_id,
                            client_lookup="campaign__client", capability=Capability.HANDLE_CALLS)
    find_form, disposition_form = FindRecipientForm(), DispositionForm(initial={
        "disposition": session.disposition, "notes": session.notes})
    found = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "find":
                find_form = FindRecipientForm(request.POST)
                if find_form.is_valid():
                    method, found = selectors.find_recipients(campaign_id=session.campaign_id,
                                                              query=find_form.cleaned_data["query"])
                    if len(found) == 1:
                        services.match_recipient(session=session, recipient=found[0], method=method,
                                                 actor=request.user, request=request)
                        messages.success(request, f"Matched to {found[0]}.")
                        return redirect("dashboard:agent_call", call_id=session.pk)
                    if not found:
                        find_form.add_error("query", "No recipient of this campaign has that phone number or code.")
            elif action == "pick":
                recipient_id = request.POST.get("recipient", "")
                if not (recipient_id.isascii() and recipient_id.isdigit()):
                    return HttpResponseBadRequest("Pick a recipient.")
                recipient = get_object_or_404(Recipient.objects, pk=recipient_id, campaign_id=session.campaign_id)
                services.match_recipient(session=session, recipient=recipient, method=MatchMethod.AGENT_PHONE,
                                         actor=request.user, request=request)
                messages.success(request, f"Matched to {recipient}.")
                return redirect("dashboard:agent_call", call_id=session.pk)
            elif action == "disposition":
                disposition_form = DispositionForm(request.POST)
                if disposition_form.is_valid():
                    services.set_disposition(session=session, actor=request.user, request=request,
                                             **disposition_form.cleaned_data)
                    messages.success(request, "Saved.")
                    return redirect("dashboard:agent_call", call_id=session.pk)
            elif action == "reward":
                redemption = services.award_reward(session=session, actor=request.user, request=request)
                card = redemption.card
                if redemption.created:
                    messages.success(request, f"Reward sent: {card.pool.brand} card …{card.last4}.")
                else:
                    messages.info(request, f"{redemption.recipient} already has their reward: "
                                           f"{card.pool.brand} card …{card.last4}. Nothing new was sent.")
                return redirect("dashboard:agent_call", call_id=session.pk)
            else:
                return HttpResponseBadRequest("Unknown action.")
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("dashboard:agent_call", call_id=session.pk)
    return render(request, "dashboard/agent/call.html", {
        "session": session,
        "candidates": found if found else selectors.caller_candidates(session),
        "find_form": find_form,
        "disposition_form": disposition_form,
    })
