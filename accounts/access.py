"""Who may act for which client.

A principal is either a signed-in `User` or an `ApiKey`. Every queryset a client can reach is
filtered through `clients_for`, so tenant scoping is decided in exactly one place.
"""

from django.db.models import Exists, Q

from .choices import CLIENT_ROLES, ROLE_CAPABILITIES, SCOPE_CAPABILITIES, Capability, Role
from .models import ApiKey, Client, Membership

_ALL_CAPABILITIES = frozenset(Capability)
# From a model to the client that owns it: the first path whose first hop is a field of the model.
CLIENT_PATHS = ("client", "campaign__client", "pool__client", "recipient__campaign__client")


def client_path(model):
    """The ORM path from `model` to its owning Client: "" for Client itself, None when no client owns it."""
    if model is Client:
        return ""
    field_names = {field.name for field in model._meta.concrete_fields}
    return next((path for path in CLIENT_PATHS if path.split("__")[0] in field_names), None)


def client_id_of(obj):
    """The id of the client that owns `obj`, following client_path; None when none does."""
    path = client_path(type(obj))
    if path is None:
        return None
    if path == "":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


def principal_of(request):
    """The API key that authenticated the request, or else its user."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else request.user


def request_actor(request):
    """(user, api_key) behind a request: at most one is set; both None for anonymous or no request."""
    if request is None:
        return None, None
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return None, auth
    user = getattr(request, "user", None)
    return (user if user is not None and user.is_authenticated else None), None


def _roles_with(capability):
    return [role for role, capabilities in ROLE_CAPABILITIES.items() if capability in capabilities]


def api_key_capabilities(api_key):
    if not api_key.is_active:
        return frozenset()
    capabilities = set()
    for scope in api_key.scopes:
        capabilities |= SCOPE_CAPABILITIES.get(scope, frozenset())
    return frozenset(capabilities)


def clients_for(principal, capability=Capability.VIEW):
    """The clients `principal` may exercise `capability` on, as a lazy queryset."""
    if isinstance(principal, ApiKey):
        if capability not in api_key_capabilities(principal):
            return Client.objects.none()
        return Client.objects.filter(pk=principal.client_id, is_active=True)
    if principal is None or not principal.is_authenticated or not principal.is_active:
        return Client.objects.none()
    if principal.is_superuser:
        return Client.objects.all()
    memberships = Membership.objects.filter(user=principal, role__in=_roles_with(capability))
    platform_wide = Exists(memberships.filter(role=Role.PLATFORM_ADMIN))
    return Client.objects.filter(
        platform_wide
        | (
            Q(is_active=True)
            & (
                Q(pk__in=memberships.filter(client__isnull=False).values("client"))
                | Q(organization__in=memberships.filter(organization__isnull=False).values("organization"))
            )
        )
    )


def sole_client(principal, capability):
    """The one client `principal` may exercise `capability` on, or None when there are none or several. An API
    key's client is the one authentication loaded with it (and found active): no query."""
    if isinstance(principal, ApiKey):
        allowed = capability in api_key_capabilities(principal) and principal.client.is_active
        return principal.client if allowed else None
    clients = list(clients_for(principal, capability)[:2])
    return clients[0] if len(clients) == 1 else None


class CapabilityResolver:
    """Answers "what may this principal do on client X" for many clients with one query."""

    def __init__(self, principal):
        self.principal = principal
        self._roles = None
        self._platform_wide = None

    def _load(self):
        user = self.principal
        memberships = list(Membership.objects.filter(user=user).values_list("role", "client_id", "organization_id"))
        self._platform_wide = user.is_superuser or any(role == Role.PLATFORM_ADMIN for role, _, _ in memberships)
        self._roles = memberships

    def for_client(self, client):
        principal = self.principal
        if isinstance(principal, ApiKey):
            if principal.client_id == client.pk and client.is_active:
                return api_key_capabilities(principal)
            return frozenset()
        if principal is None or not principal.is_authenticated or not principal.is_active:
            return frozenset()
        if self._roles is None:
            self._load()
        if self._platform_wide:
            return _ALL_CAPABILITIES
        if not client.is_active:
            return frozenset()
        capabilities = set()
        for role, client_id, organization_id in self._roles:
            if client_id == client.pk or (organization_id is not None and organization_id == client.organization_id):
                capabilities |= ROLE_CAPABILITIES[role]
        return frozenset(capabilities)


def capabilities_for(principal, client):
    """What `principal` may do on `client`: a frozenset of Capability."""
    return CapabilityResolver(principal).for_client(client)


def has_capability(principal, client, capability):
    return capability in capabilities_for(principal, client)


def within(role, capabilities):
    """Whether `role` grants nothing beyond `capabilities`: nobody hands out, or acts on, a role above their own."""
    return ROLE_CAPABILITIES[role] <= capabilities


def grantable_roles(capabilities):
    """The client roles someone holding `capabilities` on a client may give people there: none without the
    team capability, and never one that would grant more than they hold."""
    if Capability.MANAGE_TEAM not in capabilities:
        return []
    return [role for role in CLIENT_ROLES if within(role, capabilities)]


def assignable_roles(principal, client):
    return grantable_roles(capabilities_for(principal, client))


def can_see_client(principal, client_id):
    """Cheap check for a single client id (an API key answers without a query)."""
    if isinstance(principal, ApiKey):
        return principal.client_id == client_id and Capability.VIEW in api_key_capabilities(principal)
    return clients_for(principal).filter(pk=client_id).exists()
