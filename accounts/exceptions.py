from rest_framework import exceptions

from mobul.exceptions import Conflict, DomainError


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = "This API key's scopes do not allow this request."
    default_code = "insufficient_scope"


class NotPermitted(DomainError):
    code = "not_permitted"
    status = 403
    default_message = "Your role does not allow this action for this client."


class AlreadyMember(Conflict):
    code = "already_member"
    field = "email"
    default_message = "This person is already on the team."


class AccountDeactivated(Conflict):
    code = "account_deactivated"
    field = "email"
    default_message = "This person's Mobul account is deactivated; ask Mobul support to reactivate it."


class LastClientAdmin(Conflict):
    code = "last_client_admin"
    default_message = "Every client keeps at least one client admin: make someone else an admin first."


class NotATeamMembership(Conflict):
    code = "not_a_team_membership"
    default_message = "Agency and platform admins are managed by their organization, not by a client's team."
