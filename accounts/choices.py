from django.db import models


class OrganizationKind(models.TextChoices):
    PLATFORM = "platform", "Platform"
    AGENCY = "agency", "Agency"


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    CLIENT_ADMIN = "client_admin", "Client admin"
    CLIENT_MEMBER = "client_member", "Client member"
    CALL_CENTER_AGENT = "call_center_agent", "Call-center agent"


# Roles held on an organization reach every client of it; the others are held on one client.
ORGANIZATION_ROLES = {Role.PLATFORM_ADMIN: OrganizationKind.PLATFORM, Role.AGENCY_ADMIN: OrganizationKind.AGENCY}
CLIENT_ROLES = (Role.CLIENT_ADMIN, Role.CLIENT_MEMBER, Role.CALL_CENTER_AGENT)


class Capability(models.TextChoices):
    VIEW = "view", "See the client's data"
    MANAGE_CAMPAIGNS = "manage_campaigns", "Create and run campaigns, templates and imports"
    MANAGE_GIFT_CARDS = "manage_gift_cards", "Load, assign and void gift cards"
    HANDLE_CALLS = "handle_calls", "Work calls and award rewards as an agent"
    MANAGE_API_KEYS = "manage_api_keys", "Create and revoke API keys"
    MANAGE_TEAM = "manage_team", "Invite members and change roles"
    MANAGE_WEBHOOKS = "manage_webhooks", "Register webhook endpoints, rotate their secrets, replay deliveries"


ALL_CAPABILITIES = frozenset(Capability)
ROLE_CAPABILITIES = {
    Role.PLATFORM_ADMIN: ALL_CAPABILITIES,
    Role.AGENCY_ADMIN: ALL_CAPABILITIES,
    Role.CLIENT_ADMIN: ALL_CAPABILITIES,
    Role.CLIENT_MEMBER: frozenset({Capability.VIEW, Capability.MANAGE_CAMPAIGNS}),
    Role.CALL_CENTER_AGENT: frozenset({Capability.VIEW, Capability.HANDLE_CALLS}),
}


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"


# An API key never manages keys or people: that stays with humans in the dashboard. A write key may manage its
# client's webhook endpoints: integrators register their own receivers.
SCOPE_CAPABILITIES = {
    ApiKeyScope.READ: frozenset({Capability.VIEW}),
    ApiKeyScope.WRITE: frozenset(
        {Capability.MANAGE_CAMPAIGNS, Capability.MANAGE_GIFT_CARDS, Capability.HANDLE_CALLS,
         Capability.MANAGE_WEBHOOKS}
    ),
}


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    TRANSITION = "transition", "State change"
    REVEAL = "reveal", "Reveal secret"
    REVOKE = "revoke", "Revoke"
    LOGIN = "login", "Log in"
