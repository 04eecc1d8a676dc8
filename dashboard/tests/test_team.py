"""Settings → Team: inviting people, changing their role and removing them, as each kind of user."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.choices import Role
from accounts.models import Membership, User
from accounts.tests.factories import member

TEAM = reverse("dashboard:team")


def text(response):
    return response.content.decode()


def membership_of(user, client):
    return Membership.objects.get(user=user, client=client)


def role_url(membership):
    return reverse("dashboard:member_role", args=[membership.pk])


def remove_url(membership):
    return reverse("dashboard:member_remove", args=[membership.pk])


def test_an_admin_invites_someone_who_then_appears_as_invited(signed_in, tenant_a, django_capture_on_commit_callbacks):
    client = signed_in(tenant_a.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(TEAM, {"email": "Nina@Example.com", "full_name": "Nina Park", "role": "client_member"})
    assert response.status_code == 302 and response["Location"] == TEAM
    page = text(client.get(TEAM))
    assert "nina@example.com is now a Client member of Client a; we emailed them how to sign in." in page
    assert 'data-member="nina@example.com"' in page and "Invited" in page
    assert membership_of(User.objects.get(email="nina@example.com"), tenant_a.client).role == Role.CLIENT_MEMBER
    assert [email.to for email in mail.outbox] == [["nina@example.com"]]

    # The link expires after a few days: an admin sends a fresh one (offered only while no password is set).
    nina = membership_of(User.objects.get(email="nina@example.com"), tenant_a.client)
    assert page.count("Resend invitation") == 1
    with django_capture_on_commit_callbacks(execute=True):
        page = text(client.post(reverse("dashboard:member_resend", args=[nina.pk]), follow=True))
    assert "We emailed nina@example.com a new invitation link." in page and len(mail.outbox) == 2
    member_client = signed_in(tenant_a.member)
    assert member_client.post(reverse("dashboard:member_resend", args=[nina.pk])).status_code == 403


@pytest.mark.parametrize("data, message", [
    ({"email": "", "role": "client_member"}, "This field is required."),
    ({"email": "not an email", "role": "client_member"}, "Enter a valid email address."),
    ({"email": "ok@example.com", "role": "platform_admin"}, "Select a valid choice. platform_admin is not one"),
    ({"email": "ok@example.com", "role": "agency_admin"}, "Select a valid choice. agency_admin is not one"),
    ({"email": "member-a@example.com", "role": "client_admin"}, "member-a@example.com is already on the team"),
])
def test_bad_invitations_are_explained_on_the_form(signed_in, tenant_a, data, message):
    response = signed_in(tenant_a.admin).post(TEAM, data)
    assert response.status_code == 400
    assert message in text(response)
    assert not User.objects.filter(email="ok@example.com").exists()
    assert membership_of(tenant_a.member, tenant_a.client).role == Role.CLIENT_MEMBER


@pytest.mark.parametrize("who", ["member", "agent"])
def test_members_and_agents_see_the_team_but_cannot_change_it(signed_in, tenant_a, who):
    client = signed_in(getattr(tenant_a, who))
    page = text(client.get(TEAM))
    assert tenant_a.admin.email in page
    assert "Send invitation" not in page and "Remove" not in page and "Change role" not in page
    invite = client.post(TEAM, {"email": "sneaky@example.com", "role": "client_admin"})
    assert invite.status_code == 403
    assert "Only client admins and agency admins can manage the team." in text(invite)
    own = membership_of(getattr(tenant_a, who), tenant_a.client)
    admin = membership_of(tenant_a.admin, tenant_a.client)
    assert client.post(role_url(own), {"role": "client_admin"}).status_code == 403
    assert client.post(role_url(admin), {"role": "client_member"}).status_code == 403
    assert client.post(remove_url(admin)).status_code == 403
    assert not User.objects.filter(email="sneaky@example.com").exists()
    assert membership_of(tenant_a.admin, tenant_a.client).role == Role.CLIENT_ADMIN
    assert own.role == membership_of(getattr(tenant_a, who), tenant_a.client).role


def test_an_admin_of_client_a_cannot_touch_client_bs_team(signed_in, tenant_a, tenant_b):
    client = signed_in(tenant_a.admin)
    b_member, b_admin = (membership_of(user, tenant_b.client) for user in (tenant_b.member, tenant_b.admin))
    assert client.post(role_url(b_member), {"role": "client_admin"}).status_code == 404
    assert client.post(remove_url(b_admin)).status_code == 404
    assert membership_of(tenant_b.member, tenant_b.client).role == Role.CLIENT_MEMBER
    assert Membership.objects.filter(pk=b_admin.pk).exists()
    # An invitation always lands on the admin's own client; B's team never sees it.
    client.post(TEAM, {"email": "new@example.com", "role": "client_member", "client": tenant_b.client.pk})
    assert list(Membership.objects.filter(user__email="new@example.com").values_list("client", flat=True)) == [
        tenant_a.client.pk]
    assert tenant_b.member.email not in text(client.get(TEAM))


def test_an_admin_changes_a_role_and_removes_someone(signed_in, tenant_a):
    client = signed_in(tenant_a.admin)
    agent = membership_of(tenant_a.agent, tenant_a.client)
    page = text(client.post(role_url(agent), {"role": "client_admin"}, follow=True))
    assert f"{tenant_a.agent.email} is now a Client admin." in page
    assert membership_of(tenant_a.agent, tenant_a.client).role == Role.CLIENT_ADMIN
    page = text(client.post(remove_url(agent), follow=True))
    assert f"{tenant_a.agent.email} no longer has access to Client a." in page
    assert f'data-member="{tenant_a.agent.email}"' not in page
    # The person is out at once: the dashboard no longer opens for them.
    assert signed_in(tenant_a.agent).get(reverse("dashboard:overview")).status_code == 403


def test_a_bad_role_is_refused_with_a_message(signed_in, tenant_a):
    client = signed_in(tenant_a.admin)
    agent = membership_of(tenant_a.agent, tenant_a.client)
    for junk in ({"role": "overlord"}, {"role": "platform_admin"}, {}):
        page = text(client.post(role_url(agent), junk, follow=True))
        assert f"Choose a role for {tenant_a.agent.email}:" in page
    assert membership_of(tenant_a.agent, tenant_a.client).role == Role.CALL_CENTER_AGENT


def test_the_last_client_admin_stays(signed_in, tenant_a):
    client = signed_in(tenant_a.admin)
    own = membership_of(tenant_a.admin, tenant_a.client)
    page = text(client.post(role_url(own), {"role": "client_member"}, follow=True))
    assert f"{tenant_a.admin.email} is Client a&#x27;s only client admin: make someone else an admin first." in page
    page = text(client.post(remove_url(own), follow=True))
    assert "only client admin" in page
    assert membership_of(tenant_a.admin, tenant_a.client).role == Role.CLIENT_ADMIN

    # With a second admin, stepping down is allowed; the page then turns read-only.
    client.post(role_url(membership_of(tenant_a.member, tenant_a.client)), {"role": "client_admin"})
    page = text(client.post(role_url(own), {"role": "client_member"}, follow=True))
    assert f"{tenant_a.admin.email} is now a Client member." in page and "Send invitation" not in page


def test_an_agency_admin_manages_client_teams_but_not_agency_rows(signed_in, tenant_a):
    agency_admin = member(Role.AGENCY_ADMIN, organization=tenant_a.agency, email="agency-a@example.com")
    client = signed_in(agency_admin)
    page = text(client.get(TEAM))
    assert page.count("Change role") == 3  # admin, member and agent; the agency admin's own row has no controls
    org_membership = agency_admin.memberships.get()
    assert client.post(remove_url(org_membership)).status_code == 404
    client.post(role_url(membership_of(tenant_a.member, tenant_a.client)), {"role": "call_center_agent"})
    assert membership_of(tenant_a.member, tenant_a.client).role == Role.CALL_CENTER_AGENT
