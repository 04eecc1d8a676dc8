from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render

from accounts.access import grantable_roles
from accounts.choices import Capability, Role
from accounts.models import ApiKey, Membership
from accounts.services import (
    change_role,
    create_api_key,
    invite_member,
    remove_member,
    resend_invitation,
    revoke_api_key,
)
from mobul.exceptions import DomainError

from ..caching import revalidated
from ..forms import ApiKeyForm, InviteForm, RoleForm, add_service_error, role_choices
from ..tenancy import dashboard_view, require, scoped_object


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


def _team_page(request, form, status=200):
    """Who can act for this client, and with which role (client roles, plus the agency admins above it)."""
    client = request.client
    memberships = (
        Membership.objects.filter(Q(client=client) | Q(organization=client.organization, role=Role.AGENCY_ADMIN))
        .select_related("user", "organization").order_by("user__email", "pk")
    )
    roles = grantable_roles(request.capabilities)
    rows = [{"membership": membership, "manageable": membership.client_id is not None and membership.role in roles}
            for membership in memberships]
    return render(request, "dashboard/settings/team.html", {
        "rows": rows, "form": form, "role_choices": role_choices(roles), "can_manage": bool(roles),
    }, status=status)


@revalidated
@dashboard_view(capability=Capability.VIEW, methods=("GET", "POST"))
def team(request):
    roles = grantable_roles(request.capabilities)
    if request.method == "GET":
        return _team_page(request, InviteForm(roles=roles) if roles else None)
    require(request, Capability.MANAGE_TEAM)
    form = InviteForm(request.POST, roles=roles)
    if form.is_valid():
        try:
            membership = invite_member(client=request.client, email=form.cleaned_data["email"],
                                       full_name=form.cleaned_data["full_name"], role=form.cleaned_data["role"],
                                       invited_by=request.user, request=request)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{membership.user.email} is now a {membership.get_role_display()} of "
                                      f"{request.client.name}; we emailed them how to sign in.")
            return redirect("dashboard:team")
    return _team_page(request, form, status=400)


def _team_membership(request, membership_id):
    return scoped_object(request, Membership.objects.select_related("user", "client"), membership_id,
                         client_lookup="client", capability=Capability.MANAGE_TEAM)


@dashboard_view(capability=None, methods=("POST",))
def member_role(request, membership_id):
    membership = _team_membership(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Choose a role for {membership.user.email}: "
                                f"{' '.join(form.errors['role'])}")
        return redirect("dashboard:team")
    try:
        change_role(membership=membership, role=form.cleaned_data["role"], changed_by=request.user, request=request)
    except (ValidationError, DomainError) as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, f"{membership.user.email} is now a {membership.get_role_display()}.")
    return redirect("dashboard:team")


@dashboard_view(capability=None, methods=("POST",))
def member_remove(request, membership_id):
    membership = _team_membership(request, membership_id)
    try:
        remove_member(membership=membership, removed_by=request.user, request=request)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("dashboard:team")
    messages.success(request, f"{membership.user.email} no longer has access to {membership.client.name}.")
    if membership.user_id == request.user.pk:
        return redirect("dashboard:overview")
    return redirect("dashboard:team")


@dashboard_view(capability=None, methods=("POST",))
def member_resend(request, membership_id):
    membership = _team_membership(request, membership_id)
    try:
        resend_invitation(membership=membership, sent_by=request.user, request=request)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"We emailed {membership.user.email} a new invitation link.")
    return redirect("dashboard:team")


def _error_text(error):
    return error.message if isinstance(error, DomainError) else " ".join(error.messages)
