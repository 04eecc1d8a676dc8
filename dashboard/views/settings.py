from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render

from accounts.choices import Capability, Role
from accounts.models import ApiKey, Membership
from accounts.services import create_api_key, revoke_api_key

from ..caching import revalidated
from ..forms import ApiKeyForm, add_service_error
from ..tenancy import dashboard_view, scoped_object


def _keys_page(request, form, new_key=None, status=200):
    response = render(request, "dashboard/settings/api_keys.html", {
        "form": form, "new_key": new_key,
        "keys": ApiKey.objects.filter(client=request.client).select_related("created_by").order_by("-created_at"),
    }, status=status)
    if new_key:
        # The only time the full key exists outside its owner's hands: never stored by any cache.
        response["Cache-Control"] = "no-store"
    return response


@revalidated
@dashboard_view(capability=Capability.MANAGE_API_KEYS, methods=("GET", "POST"))
def api_keys(request):
    if request.method == "GET":
        return _keys_page(request, ApiKeyForm())
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            api_key, raw_key = create_api_key(client=request.client, name=form.cleaned_data["name"],
                                              scopes=form.cleaned_data["scopes"], created_by=request.user,
                                              request=request)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return _keys_page(request, ApiKeyForm(), new_key={"raw": raw_key, "key": api_key})
    return _keys_page(request, form, status=400)


@dashboard_view(capability=None, methods=("POST",))
def api_key_revoke(request, key_id):
    api_key = scoped_object(request, ApiKey.objects.select_related("client"), key_id, client_lookup="client",
                            capability=Capability.MANAGE_API_KEYS)
    if api_key.revoked_at is None:
        revoke_api_key(api_key=api_key, revoked_by=request.user, request=request)
        messages.success(request, f"Key {api_key.prefix}… is revoked; requests using it are now refused.")
    else:
        messages.info(request, f"Key {api_key.prefix}… was already revoked.")
    return redirect("dashboard:api_keys")


@revalidated
@dashboard_view(capability=Capability.VIEW)
def team(request):
    """Who can act for this client, and with which role (client roles, plus the agency admins above it)."""
    client = request.client
    memberships = (
        Membership.objects.filter(Q(client=client) | Q(organization=client.organization, role=Role.AGENCY_ADMIN))
        .select_related("user", "organization").order_by("user__email")
    )
    return render(request, "dashboard/settings/team.html", {
        "memberships": memberships, "roles": Role, "can_manage": Capability.MANAGE_TEAM in request.capabilities,
    })
