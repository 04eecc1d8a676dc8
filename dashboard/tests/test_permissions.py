"""What each role may do in the dashboard: the same capabilities as the API (accounts.choices.ROLE_CAPABILITIES)."""

import pytest
from django.urls import reverse

from accounts.models import ApiKey
from campaigns.models import Campaign

ROLES = ["admin", "member", "agent"]


def user_of(world, role):
    return getattr(world.tenant, role)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_read_pages(signed_in, world_a, role):
    client = signed_in(user_of(world_a, role))
    for name, kwargs in [("overview", {}), ("campaign_list", {}), ("recipient_search", {}), ("pool_list", {}),
                         ("call_log", {}), ("team", {}),
                         ("campaign_detail", {"campaign_id": world_a.campaign.pk}),
                         ("recipient_detail", {"recipient_id": world_a.recipients[0].pk}),
                         ("pool_detail", {"pool_id": world_a.pool.pk}),
                         ("import_progress", {"import_id": world_a.import_job.pk})]:
        assert client.get(reverse(f"dashboard:{name}", kwargs=kwargs)).status_code == 200, (role, name)


@pytest.mark.parametrize("role, allowed", [("admin", True), ("member", True), ("agent", False)])
def test_campaign_changes_need_the_manage_campaigns_capability(signed_in, world_a, role, allowed):
    client = signed_in(user_of(world_a, role))
    campaign = world_a.campaign
    pages = [reverse("dashboard:campaign_create"), reverse("dashboard:campaign_edit", args=[campaign.pk]),
             reverse("dashboard:recipient_import", args=[campaign.pk]),
             reverse("dashboard:campaign_import_mapping", args=[world_a.staged_import.pk])]
    for url in pages:
        assert client.get(url).status_code == (200 if allowed else 403), (role, url)
    response = client.post(reverse("dashboard:campaign_transition", args=[campaign.pk]), {"to": "proofed"})
    campaign.refresh_from_db()
    assert (campaign.status == "proofed") is allowed
    created = client.post(reverse("dashboard:campaign_create"), {"name": f"By {role}"})
    assert Campaign.objects.filter(name=f"By {role}").exists() is allowed
    if not allowed:
        assert response.status_code == created.status_code == 403
        assert "does not let you change campaigns" in created.content.decode()
    page = client.get(reverse("dashboard:campaign_detail", args=[campaign.pk])).content.decode()
    assert ("Import recipients" in page) is allowed


@pytest.mark.parametrize("role, allowed", [("admin", True), ("member", False), ("agent", False)])
def test_gift_card_changes_need_the_manage_gift_cards_capability(signed_in, world_a, role, allowed):
    client = signed_in(user_of(world_a, role))
    url = reverse("dashboard:pool_assign", args=[world_a.pool.pk])
    preview = client.post(url, {"campaign": world_a.campaign.pk})
    assert preview.status_code == (200 if allowed else 403)
    assert not world_a.campaign.recipients.filter(gift_card__isnull=False).exists()
    response = client.post(url, {"campaign": world_a.campaign.pk, "confirmed": "true"})
    assert response.status_code == (302 if allowed else 403)
    assert world_a.campaign.recipients.filter(gift_card__isnull=False).exists() is allowed
    page = client.get(reverse("dashboard:pool_detail", args=[world_a.pool.pk])).content.decode()
    assert ("Upload codes" in page) is allowed


@pytest.mark.parametrize("role, allowed", [("admin", True), ("member", False), ("agent", False)])
def test_api_keys_are_for_client_admins_only(signed_in, world_a, role, allowed):
    client = signed_in(user_of(world_a, role))
    assert client.get(reverse("dashboard:api_keys")).status_code == (200 if allowed else 403)
    client.post(reverse("dashboard:api_key_revoke", args=[world_a.tenant.api_key.pk]))
    assert (ApiKey.objects.get(pk=world_a.tenant.api_key.pk).revoked_at is not None) is allowed
    nav = client.get(reverse("dashboard:overview")).content.decode()
    assert (reverse("dashboard:api_keys") in nav) is allowed


@pytest.mark.parametrize("role, has_agent_screen", [("admin", True), ("member", False), ("agent", True)])
def test_the_agent_screen_is_linked_for_those_who_work_calls(signed_in, world_a, role, has_agent_screen):
    client = signed_in(user_of(world_a, role))
    page = client.get(reverse("dashboard:call_log")).content.decode()
    assert (reverse("calltracking:agent_calls") in page) is has_agent_screen
    assert client.get(reverse("calltracking:agent_calls")).status_code == (200 if has_agent_screen else 403)


def test_an_agency_admin_switches_between_the_agencys_clients(signed_in, world_a, agency_admin_a):
    from accounts.tests.factories import ClientFactory
    from campaigns.tests.factories import CampaignFactory

    sister = ClientFactory(organization=world_a.tenant.agency, name="Sister clinic")
    CampaignFactory(client=sister, name="Sister campaign")
    client = signed_in(agency_admin_a)
    page = client.get(reverse("dashboard:campaign_list")).content.decode()
    assert 'name="client"' in page and "Sister clinic" in page
    first = "Sister campaign" in page
    other = world_a.tenant.client if first else sister
    client.post(reverse("dashboard:switch_client"), {"client": other.pk})
    page = client.get(reverse("dashboard:campaign_list")).content.decode()
    assert ("Sister campaign" in page) is not first and (world_a.campaign.name in page) is first
    # Opening an object of the other client makes that client the current one.
    client.get(reverse("dashboard:campaign_detail", args=[world_a.campaign.pk]))
    assert world_a.campaign.name in client.get(reverse("dashboard:campaign_list")).content.decode()


def test_a_user_without_any_client_gets_a_clear_refusal(signed_in, db):
    from accounts.tests.factories import UserFactory

    response = signed_in(UserFactory()).get(reverse("dashboard:overview"))
    assert response.status_code == 403
    assert "does not give access to any client" in response.content.decode()
