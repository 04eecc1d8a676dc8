from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.access import clients_for

from .. import selectors
from ..tenancy import SESSION_KEY, dashboard_view


@never_cache
@dashboard_view()
def overview(request):
    return render(request, "dashboard/overview.html", selectors.overview(request.client))


@dashboard_view(capability=None, methods=("POST",))
def switch_client(request):
    chosen = request.POST.get("client", "")
    client = clients_for(request.user).filter(pk=chosen).first() if chosen.isdigit() else None
    if client is None:
        messages.error(request, "Choose one of your clients.")
    else:
        request.session[SESSION_KEY] = client.pk
    return redirect("dashboard:overview")
