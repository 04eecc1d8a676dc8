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
    client = clients_for(request.user).filter(pk=request.POST.get("client") or 0).first()
    if client is not None:
        request.session[SESSION_KEY] = client.pk
    return redirect("dashboard:overview")
