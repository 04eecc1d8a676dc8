"""Which client a dashboard page works on, and whether the signed-in user may do what the page does.

Every decision is delegated to accounts.access (the same rules as the API); this module only remembers the
client the user picked and turns "not allowed" into the right answer: another tenant's object is a 404,
a role that lacks a capability gets a 403.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404

from accounts.access import capabilities_for, clients_for
from accounts.choices import Capability
from mobul.replicas import allow_replica_reads

SESSION_KEY = "dashboard_client_id"
# The switcher lists at most this many clients (a platform admin may see every client of the platform).
MAX_SWITCHABLE_CLIENTS = 200

ROLE_MESSAGES = {
    Capability.VIEW: "Your role does not let you see this client's data.",
    Capability.MANAGE_CAMPAIGNS: "Your role does not let you change campaigns. Ask a client admin.",
    Capability.MANAGE_GIFT_CARDS: "Your role does not let you manage gift cards. Ask a client admin.",
    Capability.HANDLE_CALLS: "Your role does not let you work calls.",
    Capability.MANAGE_API_KEYS: "Only client admins can manage API keys.",
    Capability.MANAGE_TEAM: "Only client admins and agency admins can manage the team.",
    Capability.MANAGE_WEBHOOKS: "Only client admins can manage webhooks.",
}


def _select_client(request, client):
    request.client = client
    request.capabilities = capabilities_for(request.user, client)
    if request.session.get(SESSION_KEY) != client.pk:
        request.session[SESSION_KEY] = client.pk


def switchable_clients(user):
    return list(clients_for(user).select_related("organization").order_by("name", "pk")[:MAX_SWITCHABLE_CLIENTS])


def require(request, capability):
    if capability not in request.capabilities:
        raise PermissionDenied(ROLE_MESSAGES[capability])


def dashboard_view(capability=Capability.VIEW, methods=("GET",)):
    """A signed-in page working on the current client. `capability` is checked on that client; pages about
    one object pass None and let `scoped_object` check it on the object's own client."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            request.clients = switchable_clients(request.user)
            if not request.clients:
                raise PermissionDenied("Your account does not give access to any client yet. "
                                       "Ask your administrator to add you to a team.")
            chosen = request.session.get(SESSION_KEY)
            client = next((c for c in request.clients if c.pk == chosen), request.clients[0])
            _select_client(request, client)
            if capability is not None:
                require(request, capability)
            if request.method == "GET":
                # Pages only read: from the replica when there is one (the primary once the user has written).
                allow_replica_reads(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def scoped_object(request, queryset, pk, *, client_lookup, capability=Capability.VIEW):
    """The object `pk` of `queryset` if it belongs to a client the user can see (else 404), after checking
    `capability` on that client (else 403). Opening an object of another of the user's clients makes that
    client the current one, so the navigation matches the page."""
    obj = get_object_or_404(queryset.filter(**{f"{client_lookup}__in": clients_for(request.user)}), pk=pk)
    client = obj
    for attribute in client_lookup.split("__"):
        client = getattr(client, attribute)
    if client.pk != request.client.pk:
        _select_client(request, client)
    require(request, capability)
    return obj
