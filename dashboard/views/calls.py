from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from calltracking.api.filters import CallSessionFilter
from calltracking.models import CallSession
from calltracking.recordings import playback_url
from mobul.exceptions import DomainError

from ..forms import CallFilterForm
from ..tenancy import dashboard_view, scoped_object

PAGE_SIZE = 50


@never_cache
@dashboard_view()
def call_log(request):
    calls = CallSession.objects.filter(campaign__client=request.client).select_related(
        "campaign", "recipient", "tracking_number", "agent")
    form = CallFilterForm(request.GET or None, client=request.client)
    results = []
    if form.is_valid() or not form.is_bound:
        # The API's filter set does the filtering, so the log and /api/v1/call-sessions/ agree.
        results = CallSessionFilter(form.as_filter_data() if form.is_bound else {}, queryset=calls).qs
        before = request.GET.get("before", "")
        if before.isdigit():
            anchor = calls.filter(pk=before).values_list("call_started_at", flat=True).first()
            if anchor is not None:
                results = results.filter(call_started_at__lte=anchor).exclude(call_started_at=anchor, pk__gte=before)
        results = list(results.order_by("-call_started_at", "-pk")[:PAGE_SIZE + 1])
    has_more = len(results) > PAGE_SIZE
    results = results[:PAGE_SIZE]
    query = request.GET.copy()
    query.pop("before", None)
    return render(request, "dashboard/calls/list.html", {
        "form": form, "calls": results, "older": results[-1].pk if has_more else None, "query": query.urlencode(),
    })


@never_cache
@dashboard_view(capability=None)
def call_recording(request, call_id):
    """Sends the listener on to a fresh short-lived playback URL (each one handed out is audited)."""
    session = scoped_object(request, CallSession.objects.select_related("campaign__client"), call_id,
                            client_lookup="campaign__client")
    try:
        return redirect(playback_url(session=session, request=request))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("dashboard:call_log")
