"""The call-center agent's screen (until the dashboard has one) and recording playback.

/app/calls/agent/ lists live and recent calls of every client the signed-in user may work calls for
(Capability.HANDLE_CALLS); a call's page shows the matched recipient, matches one by phone or printed code,
records a disposition, and sends the reward once the agent confirms the condition.
"""

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import clients_for
from accounts.choices import Capability
from campaigns.models import Recipient
from mobul.exceptions import DomainError

from . import selectors, services
from .choices import MatchMethod
from .forms import DispositionForm, FindRecipientForm
from .recordings import playback_url, recording_storage, session_for_token


def _agent_calls(request):
    if not clients_for(request.user, Capability.HANDLE_CALLS).exists():
        raise PermissionDenied
    return selectors.calls_for_agent(request.user)


@never_cache
@login_required
@require_GET
def agent_calls(request):
    live, recent = selectors.split_live(_agent_calls(request))
    return render(request, "calltracking/agent_calls.html", {"live": live, "recent": recent})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def agent_call(request, pk):
    session = get_object_or_404(_agent_calls(request), pk=pk)
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
                        return redirect("calltracking:agent_call", pk=session.pk)
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
                return redirect("calltracking:agent_call", pk=session.pk)
            elif action == "disposition":
                disposition_form = DispositionForm(request.POST)
                if disposition_form.is_valid():
                    services.set_disposition(session=session, actor=request.user, request=request,
                                             **disposition_form.cleaned_data)
                    messages.success(request, "Saved.")
                    return redirect("calltracking:agent_call", pk=session.pk)
            elif action == "reward":
                redemption = services.award_reward(session=session, actor=request.user, request=request)
                card = redemption.card
                if redemption.created:
                    messages.success(request, f"Reward sent: {card.pool.brand} card …{card.last4}.")
                else:
                    messages.info(request, f"{redemption.recipient} already has their reward: "
                                           f"{card.pool.brand} card …{card.last4}. Nothing new was sent.")
                return redirect("calltracking:agent_call", pk=session.pk)
            else:
                return HttpResponseBadRequest("Unknown action.")
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("calltracking:agent_call", pk=session.pk)
    return render(request, "calltracking/agent_call.html", {
        "session": session,
        "candidates": found if found else selectors.caller_candidates(session),
        "find_form": find_form,
        "disposition_form": disposition_form,
    })


@never_cache
@login_required
@require_GET
def agent_recording(request, pk):
    """Sends the agent on to a fresh short-lived URL, so the link on the page never goes stale."""
    session = get_object_or_404(_agent_calls(request), pk=pk)
    try:
        return redirect(playback_url(session=session, request=request))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("calltracking:agent_call", pk=session.pk)


@require_GET
def recording_file(request, token):
    """Plays a recording for whoever holds a fresh signed link (handed out only to authorised people)."""
    session = session_for_token(token)
    if session is None:
        raise Http404
    try:
        audio = recording_storage().open(session.recording, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(audio, content_type=mimetypes.guess_type(session.recording)[0] or "audio/mpeg")
    response["Cache-Control"] = "private, no-store"
    return response
