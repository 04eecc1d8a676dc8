import json
import secrets

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mobul.celery import after_commit
from mobul.db import prepared_cursor
from mobul.exceptions import NotFound
from mobul.http import client_ip
from mobul.middleware import audited_in_this_request, current_client_ip, current_request_id

from .access import assignable_roles, capabilities_for, request_actor, within
from .authentication import API_KEY_PREFIX
from .choices import CLIENT_ROLES, AuditAction, Capability, Role
from .exceptions import AccountDeactivated, AlreadyMember, LastClientAdmin, NotATeamMembership, NotPermitted
from .models import ApiKey, AuditLog, Membership, User, hash_api_key
from .tasks import send_team_invitation


# An audit row's columns, as named parameters audit_params() fills: with the changes apart, for a statement that
# writes them from what it did (see analytics.ingest).
AUDIT_COLUMNS = "created_at, action, object_type, object_id, object_repr, ip, request_id, actor_id, api_key_id, client_id"
AUDIT_VALUES = ("%(audit_created_at)s, %(audit_action)s, %(audit_object_type)s, %(audit_object_id)s, "
                "%(audit_object_repr)s, %(audit_ip)s::inet, %(audit_request_id)s, %(audit_actor_id)s, "
                "%(audit_api_key_id)s, %(audit_client_id)s")
INSERT_AUDIT_SQL = (f"INSERT INTO audit_logs ({AUDIT_COLUMNS}, changes) VALUES ({AUDIT_VALUES}, %(audit_changes)s::jsonb)"
                    " RETURNING id")


def audit_entry(*, action, obj=None, object_type=None, object_id="", client=None, client_id=None, changes=None,
                actor=None, api_key=None, ip=None, request=None):
    """The audit row to append, not yet saved (see record_audit). Given a request, the actor, API key and IP come from
    it."""
    if request is not None:
        user, key = request_actor(request)
        actor, api_key = actor or user, api_key or key
        ip = ip or client_ip(request) or None
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
    if client is not None:
        client_id = client.pk
    elif client_id is None and api_key is not None:
        client_id = api_key.client_id
    return AuditLog(
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        object_repr=str(obj)[:200] if obj is not None else "",
        client_id=client_id,
        changes=changes or {},
        actor=actor,
        api_key=api_key,
        ip=ip or current_client_ip(),
        request_id=current_request_id() if current_request_id() != "-" else "",
    )


def audit_params(entry):
    """The named parameters of AUDIT_VALUES (and audit_changes) for an audit_entry()."""
    return {"audit_created_at": entry.created_at, "audit_action": entry.action, "audit_object_type": entry.object_type,
            "audit_object_id": entry.object_id, "audit_object_repr": entry.object_repr, "audit_ip": entry.ip,
            "audit_request_id": entry.request_id, "audit_actor_id": entry.actor_id,
            "audit_api_key_id": entry.api_key_id, "audit_client_id": entry.client_id,
            "audit_changes": json.dumps(entry.changes)}


def note_audited(entry):
    """Tells the request (see accounts.audit) that this object has its audit row."""
    audited = audited_in_this_request()
    if audited is not None:
        audited.add((entry.object_type, entry.object_id))


def record_audit(**fields):
    """Appends one audit row (fields as audit_entry's) and returns it."""
    entry = audit_entry(**fields)
    note_audited(entry)
    # Hot paths audit (every API redemption): one prepared statement instead of the ORM's insert.
    with prepared_cursor() as cursor:
        cursor.execute(INSERT_AUDIT_SQL, audit_params(entry))
        (entry.pk,) = cursor.fetchone()
    entry._state.adding = False
    return entry


@transaction.atomic
def create_api_key(*, client, name, scopes, created_by=None, request=None):
    """Creates a key and returns (api_key, raw_key). The raw key is shown once and never stored."""
    scopes = sorted(set(scopes))
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(client=client, name=name, prefix=prefix, key_hash=hash_api_key(raw_key), scopes=scopes,
                     created_by=created_by)
    api_key.full_clean()
    api_key.save()
    record_audit(action=AuditAction.CREATE, obj=api_key, client=client, actor=created_by, request=request,
                 changes={"name": name, "scopes": scopes, "prefix": prefix})
    return api_key, raw_key


@transaction.atomic
def revoke_api_key(*, api_key, revoked_by=None, request=None):
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        record_audit(action=AuditAction.REVOKE, obj=locked, client=locked.client, actor=revoked_by, request=request)
    api_key.revoked_at = locked.revoked_at
    return locked


# --- Team: who may act for a client, with which role ---------------------------------------------------

def _check_assignable(actor, client, role):
    if role not in CLIENT_ROLES:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role(r).label for r in CLIENT_ROLES)}."})
    allowed = assignable_roles(actor, client)
    if not allowed:
        raise NotPermitted("Only client admins and agency admins can manage the team.")
    if role not in allowed:
        raise NotPermitted(f"You cannot make someone a {Role(role).label}: that role can do more than yours.",
                           field="role")


def _locked_team_membership(actor, membership):
    """The membership, locked together with its client's admins (in pk order, so concurrent changes queue
    instead of deadlocking), after checking the actor may act on it."""
    rows = list(
        Membership.objects.select_for_update(of=("self",)).select_related("user", "client")
        .filter(Q(pk=membership.pk) | Q(client_id=membership.client_id, role=Role.CLIENT_ADMIN)).order_by("pk")
    )
    locked = next((row for row in rows if row.pk == membership.pk), None)
    if locked is None:
        raise NotFound("This person is no longer on the team.")
    if locked.client_id is None:
        raise NotATeamMembership()
    capabilities = capabilities_for(actor, locked.client)
    if Capability.MANAGE_TEAM not in capabilities:
        raise NotPermitted("Only client admins and agency admins can manage the team.")
    if not within(locked.role, capabilities):
        raise NotPermitted("You cannot change someone whose role can do more than yours.")
    other_active_admins = [row for row in rows if row.role == Role.CLIENT_ADMIN and row.pk != locked.pk
                           and row.user.is_active]
    return locked, other_active_admins


def _keeps_an_admin(membership, other_active_admins):
    if membership.role == Role.CLIENT_ADMIN and membership.user.is_active and not other_active_admins:
        raise LastClientAdmin(f"{membership.user.email} is {membership.client}'s only client admin: "
                              "make someone else an admin first.")


@transaction.atomic
def invite_member(*, client, email, role, invited_by, full_name="", request=None):
    """Gives `email` a role on `client`, creating the account if there is none, and emails the person: a link
    to choose a password (Django's password-reset token) for a new account, a sign-in link otherwise."""
    _check_assignable(invited_by, client, role)
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
        if len(email) > User._meta.get_field("email").max_length:
            raise ValidationError("too long")
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    user, user_created = User.objects.get_or_create(
        email=email, defaults={"full_name": full_name.strip()[:200], "password": make_password(None)})
    if not user.is_active:
        raise AccountDeactivated()
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, client=client, role=role)
    except IntegrityError:
        raise AlreadyMember(f"{email} is already on the team of {client}.") from None
    record_audit(action=AuditAction.CREATE, obj=membership, client=client, actor=invited_by, request=request,
                 changes={"email": email, "role": role, "account_created": user_created})
    after_commit(lambda: send_team_invitation.delay(membership.pk, invited_by.pk))
    return membership


@transaction.atomic
def resend_invitation(*, membership, sent_by, request=None):
    """Emails the invitation again, with a fresh link: the first one expires, and the stock password-reset
    form ignores accounts that never chose a password."""
    locked, _ = _locked_team_membership(sent_by, membership)
    record_audit(action=AuditAction.UPDATE, obj=locked, client=locked.client, actor=sent_by, request=request,
                 changes={"email": locked.user.email, "invitation": "resent"})
    after_commit(lambda: send_team_invitation.delay(locked.pk, sent_by.pk))
    return locked


@transaction.atomic
def change_role(*, membership, role, changed_by, request=None):
    locked, other_active_admins = _locked_team_membership(changed_by, membership)
    _check_assignable(changed_by, locked.client, role)
    old_role = locked.role
    if role != old_role:
        if role != Role.CLIENT_ADMIN:
            _keeps_an_admin(locked, other_active_admins)
        locked.role = role
        locked.save(update_fields=["role"])
        record_audit(action=AuditAction.UPDATE, obj=locked, client=locked.client, actor=changed_by, request=request,
                     changes={"email": locked.user.email, "role": [old_role, role]})
    membership.role = locked.role
    return locked


@transaction.atomic
def remove_member(*, membership, removed_by, request=None):
    """Takes the person off the client's team; their account and other teams stay as they are."""
    locked, other_active_admins = _locked_team_membership(removed_by, membership)
    _keeps_an_admin(locked, other_active_admins)
    record_audit(action=AuditAction.DELETE, obj=locked, client=locked.client, actor=removed_by, request=request,
                 changes={"email": locked.user.email, "role": locked.role})
    locked.delete()
