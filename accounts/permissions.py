from rest_framework import permissions

from .access import has_capability, principal_of
from .choices import ApiKeyScope, Capability
from .exceptions import InsufficientScope
from .models import ApiKey


class IsTenantActor(permissions.BasePermission):
    """A signed-in user or an API key; a key without the write scope may only read."""

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiKey):
            if request.method not in permissions.SAFE_METHODS and ApiKeyScope.WRITE not in request.auth.scopes:
                raise InsufficientScope()
            return True
        return bool(request.user and request.user.is_authenticated)


class HasClientCapability(permissions.BasePermission):
    """The principal holds the view's capability on the object's client.

    Views name `read_capability` and `write_capability`; an action may override with
    `capability_by_action = {"action": Capability...}`. Objects of clients the principal cannot
    see never reach this check: scoped querysets make them 404.
    """

    message = "Your role does not allow this action for this client."

    @staticmethod
    def required_capability(request, view):
        by_action = getattr(view, "capability_by_action", {})
        if getattr(view, "action", None) in by_action:
            return by_action[view.action]
        if request.method in permissions.SAFE_METHODS:
            return getattr(view, "read_capability", Capability.VIEW)
        return getattr(view, "write_capability", Capability.VIEW)

    def has_object_permission(self, request, view, obj):
        client = view.client_of(obj)
        return has_capability(principal_of(request), client, self.required_capability(request, view))
