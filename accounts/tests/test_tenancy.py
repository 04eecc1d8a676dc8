import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from accounts.access import capabilities_for, clients_for, has_capability
from accounts.choices import ALL_CAPABILITIES, ApiKeyScope, Capability, Role
from accounts.models import Membership
from accounts.tests.factories import ClientFactory, api_key_for, member

pytestmark = pytest.mark.django_db

CLIENTS = "/api/v1/clients/"


def _signed_in(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_agency_admin_sees_its_clients_only(tenant_a, tenant_b):
    second_client_of_a = ClientFactory(organization=tenant_a.agency)
    agency_admin = member(Role.AGENCY_ADMIN, organization=tenant_a.agency)

    assert set(clients_for(agency_admin)) == {tenant_a.client, second_client_of_a}
    response = _signed_in(agency_admin).get(CLIENTS)
    assert response.status_code == 200
    assert {row["slug"] for row in response.json()["results"]} == {tenant_a.client.slug, second_client_of_a.slug}
    assert _signed_in(agency_admin).get(f"{CLIENTS}{tenant_b.client.pk}/").status_code == 404


def test_client_roles_see_their_own_client_only(tenant_a, tenant_b):
    for user in (tenant_a.admin, tenant_a.member, tenant_a.agent):
        assert list(clients_for(user)) == [tenant_a.client]
        api = _signed_in(user)
        assert [row["slug"] for row in api.get(CLIENTS).json()["results"]] == [tenant_a.client.slug]
        assert api.get(f"{CLIENTS}{tenant_a.client.pk}/").status_code == 200
        response = api.get(f"{CLIENTS}{tenant_b.client.pk}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_api_key_sees_only_its_client(tenant_a, tenant_b, key_client):
    assert [row["slug"] for row in key_client.get(CLIENTS).json()["results"]] == [tenant_a.client.slug]
    assert key_client.get(f"{CLIENTS}{tenant_b.client.pk}/").status_code == 404


def test_platform_admin_sees_every_client(tenant_a, tenant_b, platform_admin):
    assert {tenant_a.client, tenant_b.client} <= set(clients_for(platform_admin))
    assert capabilities_for(platform_admin, tenant_b.client) == ALL_CAPABILITIES


def test_call_center_agent_cannot_reach_admin_only_actions(tenant_a):
    agent = tenant_a.agent
    assert has_capability(agent, tenant_a.client, Capability.HANDLE_CALLS)
    for admin_only in (Capability.MANAGE_API_KEYS, Capability.MANAGE_TEAM, Capability.MANAGE_GIFT_CARDS,
                       Capability.MANAGE_CAMPAIGNS):
        assert not has_capability(agent, tenant_a.client, admin_only)
        assert tenant_a.client not in clients_for(agent, admin_only)
    listed = _signed_in(agent).get(f"{CLIENTS}{tenant_a.client.pk}/").json()["capabilities"]
    assert listed == sorted([Capability.HANDLE_CALLS, Capability.VIEW])
    # Not staff: the Django admin sends the agent to its login page.
    assert _signed_in(agent).get("/admin/").status_code == 302


def test_client_member_runs_campaigns_but_does_not_manage_keys_or_team(tenant_a):
    assert has_capability(tenant_a.member, tenant_a.client, Capability.MANAGE_CAMPAIGNS)
    assert not has_capability(tenant_a.member, tenant_a.client, Capability.MANAGE_API_KEYS)
    assert not has_capability(tenant_a.member, tenant_a.client, Capability.MANAGE_TEAM)
    assert capabilities_for(tenant_a.admin, tenant_a.client) == ALL_CAPABILITIES


def test_roles_do_not_leak_to_other_tenants(tenant_a, tenant_b):
    assert capabilities_for(tenant_a.admin, tenant_b.client) == frozenset()
    agency_admin_b = member(Role.AGENCY_ADMIN, organization=tenant_b.agency)
    assert capabilities_for(agency_admin_b, tenant_a.client) == frozenset()


def test_api_key_scopes_map_to_capabilities(tenant_a, tenant_b):
    read_key, _ = api_key_for(tenant_a.client, scopes=[ApiKeyScope.READ])
    assert capabilities_for(read_key, tenant_a.client) == {Capability.VIEW}
    assert capabilities_for(tenant_a.api_key, tenant_a.client) >= {Capability.VIEW, Capability.MANAGE_CAMPAIGNS}
    assert Capability.MANAGE_API_KEYS not in capabilities_for(tenant_a.api_key, tenant_a.client)
    assert capabilities_for(tenant_a.api_key, tenant_b.client) == frozenset()


def test_deactivated_client_disappears_for_its_users_but_not_for_platform(tenant_a, platform_admin):
    tenant_a.client.is_active = False
    tenant_a.client.save()
    assert list(clients_for(tenant_a.admin)) == []
    assert tenant_a.client in clients_for(platform_admin)


def test_membership_must_match_role_scope(tenant_a):
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=tenant_a.member, role=Role.AGENCY_ADMIN, client=tenant_a.client)


def test_inactive_user_has_no_access(tenant_a):
    tenant_a.admin.is_active = False
    tenant_a.admin.save()
    assert list(clients_for(tenant_a.admin)) == []


def test_a_non_staff_agent_signs_in_and_reaches_the_agent_screen(client, tenant_a):
    screen = "/app/calls/agent/"
    assert client.get(screen)["Location"].startswith("/app/login/?next=")
    assert client.get("/app/login/").status_code == 200
    bad = client.post("/app/login/", {"username": tenant_a.agent.email, "password": "wrong"})
    assert bad.status_code == 200 and "correct email" in bad.content.decode().lower()
    signed_in = client.post("/app/login/", {"username": tenant_a.agent.email,
                                            "password": "correct horse battery staple", "next": screen})
    assert signed_in["Location"] == screen
    assert client.get(screen).status_code == 200
