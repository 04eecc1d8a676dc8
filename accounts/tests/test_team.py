"""Team management services: who may invite, re-role and remove people on a client, and the rules every
entry point gets from them (no cross-tenant reach, no escalation, a client never loses its last admin)."""

import re
import threading
import time

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts.access import grantable_roles
from accounts.choices import CLIENT_ROLES, AuditAction, Capability, Role
from accounts.exceptions import AccountDeactivated, AlreadyMember, LastClientAdmin, NotATeamMembership, NotPermitted
from accounts.models import AuditLog, Membership, User
from accounts.services import change_role, invite_member, remove_member, resend_invitation
from accounts.tests.factories import member

pytestmark = pytest.mark.django_db


def membership_of(user, client):
    return Membership.objects.get(user=user, client=client)


def audit_rows(action, membership_id):
    return list(AuditLog.objects.filter(action=action, object_type="accounts.Membership",
                                        object_id=str(membership_id)))


def test_inviting_a_new_person_creates_the_account_and_emails_a_password_link(client, tenant_a,
                                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        membership = invite_member(client=tenant_a.client, email="  New.Person@Example.com ", full_name="New Person",
                                   role=Role.CLIENT_MEMBER, invited_by=tenant_a.admin)
    user = membership.user
    assert user.email == "new.person@example.com" and user.full_name == "New Person"
    assert not user.has_usable_password()
    assert membership.client == tenant_a.client and membership.role == Role.CLIENT_MEMBER
    [row] = audit_rows(AuditAction.CREATE, membership.pk)
    assert row.actor == tenant_a.admin and row.client == tenant_a.client
    assert row.changes == {"email": "new.person@example.com", "role": "client_member", "account_created": True}

    [email] = mail.outbox
    assert email.to == ["new.person@example.com"] and "Client a" in email.subject
    assert tenant_a.admin.full_name in email.body and "as a Client member" in email.body
    # The link is Django's password-reset link: it lets the person choose a password and sign in.
    link = re.search(r"http://localhost:8000(/app/password-reset/\S+/)", email.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    client.post(form.redirect_chain[-1][0], {"new_password1": "a-much-better-secret-41",
                                             "new_password2": "a-much-better-secret-41"})
    assert client.login(username="new.person@example.com", password="a-much-better-secret-41")


def test_inviting_someone_who_has_an_account_adds_them_and_sends_a_sign_in_link(tenant_a, tenant_b,
                                                                                 django_capture_on_commit_callbacks):
    users_before = User.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        membership = invite_member(client=tenant_a.client, email=tenant_b.member.email, role=Role.CALL_CENTER_AGENT,
                                   invited_by=tenant_a.admin)
    assert membership.user == tenant_b.member and User.objects.count() == users_before
    # Their place on the other team is untouched, and nothing about it is revealed or changed.
    assert membership_of(tenant_b.member, tenant_b.client).role == Role.CLIENT_MEMBER
    [email] = mail.outbox
    assert "/app/login/" in email.body and "password-reset" not in email.body
    assert tenant_a.member.check_password("correct horse battery staple")


def test_an_invitation_can_be_sent_again_with_a_fresh_link(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        membership = invite_member(client=tenant_a.client, email="late@example.com", role=Role.CLIENT_MEMBER,
                                   invited_by=tenant_a.admin)
    with pytest.raises(NotPermitted):
        resend_invitation(membership=membership, sent_by=tenant_a.member)
    with pytest.raises(NotPermitted):
        resend_invitation(membership=membership, sent_by=tenant_b.admin)
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        resend_invitation(membership=membership, sent_by=tenant_a.admin)
    assert [email.to for email in mail.outbox] == [["late@example.com"], ["late@example.com"]]
    assert "/app/password-reset/" in mail.outbox[1].body
    [row] = audit_rows(AuditAction.UPDATE, membership.pk)
    assert row.changes == {"email": "late@example.com", "invitation": "resent"} and row.actor == tenant_a.admin


@pytest.mark.parametrize("who", ["member", "agent"])
def test_members_and_agents_cannot_manage_the_team(tenant_a, who):
    actor = getattr(tenant_a, who)
    admin_membership = membership_of(tenant_a.admin, tenant_a.client)
    with pytest.raises(NotPermitted):
        invite_member(client=tenant_a.client, email="x@example.com", role=Role.CLIENT_MEMBER, invited_by=actor)
    with pytest.raises(NotPermitted):
        change_role(membership=admin_membership, role=Role.CLIENT_MEMBER, changed_by=actor)
    with pytest.raises(NotPermitted):
        remove_member(membership=membership_of(tenant_a.agent, tenant_a.client), removed_by=actor)
    assert not User.objects.filter(email="x@example.com").exists()
    assert membership_of(tenant_a.admin, tenant_a.client).role == Role.CLIENT_ADMIN
    assert not AuditLog.objects.filter(object_type="accounts.Membership").exclude(action=AuditAction.CREATE).exists()


def test_an_admin_of_one_client_cannot_touch_another_clients_team(tenant_a, tenant_b):
    b_member = membership_of(tenant_b.member, tenant_b.client)
    with pytest.raises(NotPermitted):
        invite_member(client=tenant_b.client, email="mole@example.com", role=Role.CLIENT_ADMIN,
                      invited_by=tenant_a.admin)
    with pytest.raises(NotPermitted):
        change_role(membership=b_member, role=Role.CLIENT_ADMIN, changed_by=tenant_a.admin)
    with pytest.raises(NotPermitted):
        remove_member(membership=b_member, removed_by=tenant_a.admin)
    assert membership_of(tenant_b.member, tenant_b.client).role == Role.CLIENT_MEMBER
    assert not Membership.objects.filter(user__email="mole@example.com").exists()


def test_an_agency_admin_manages_the_agencys_clients_and_no_others(tenant_a, tenant_b):
    agency_admin = member(Role.AGENCY_ADMIN, organization=tenant_a.agency, email="agency-a@example.com")
    membership = change_role(membership=membership_of(tenant_a.member, tenant_a.client), role=Role.CLIENT_ADMIN,
                             changed_by=agency_admin)
    assert membership.role == Role.CLIENT_ADMIN
    invite_member(client=tenant_a.client, email="helper@example.com", role=Role.CLIENT_MEMBER, invited_by=agency_admin)
    with pytest.raises(NotPermitted):
        remove_member(membership=membership_of(tenant_b.member, tenant_b.client), removed_by=agency_admin)
    # The agency admin's own place is the agency's business, not a client team's.
    with pytest.raises(NotATeamMembership):
        remove_member(membership=agency_admin.memberships.get(), removed_by=tenant_a.admin)


def test_an_api_key_never_manages_people(tenant_a):
    with pytest.raises(NotPermitted):
        invite_member(client=tenant_a.client, email="bot@example.com", role=Role.CLIENT_MEMBER,
                      invited_by=tenant_a.api_key)


def test_nobody_grants_a_role_above_their_own():
    assert grantable_roles(frozenset(Capability)) == list(CLIENT_ROLES)
    # Team rights without campaign or call rights give nothing: every client role would grant more.
    assert grantable_roles(frozenset({Capability.VIEW, Capability.MANAGE_TEAM})) == []
    assert grantable_roles(frozenset({Capability.VIEW, Capability.MANAGE_CAMPAIGNS, Capability.MANAGE_TEAM})) == [
        Role.CLIENT_MEMBER]
    assert grantable_roles(frozenset(Capability) - {Capability.MANAGE_TEAM}) == []


@pytest.mark.parametrize("role", [Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN, "owner", ""])
def test_organization_roles_and_made_up_ones_are_not_given_through_a_team(tenant_a, role):
    with pytest.raises(ValidationError) as error:
        invite_member(client=tenant_a.client, email="up@example.com", role=role, invited_by=tenant_a.admin)
    assert "role" in error.value.message_dict
    with pytest.raises(ValidationError):
        change_role(membership=membership_of(tenant_a.member, tenant_a.client), role=role, changed_by=tenant_a.admin)
    assert membership_of(tenant_a.member, tenant_a.client).role == Role.CLIENT_MEMBER


def test_the_last_client_admin_cannot_be_demoted_or_removed(tenant_a):
    agency_admin = member(Role.AGENCY_ADMIN, organization=tenant_a.agency, email="agency-a@example.com")
    only_admin = membership_of(tenant_a.admin, tenant_a.client)
    for actor in (tenant_a.admin, agency_admin):
        with pytest.raises(LastClientAdmin, match="only client admin"):
            change_role(membership=only_admin, role=Role.CLIENT_MEMBER, changed_by=actor)
        with pytest.raises(LastClientAdmin):
            remove_member(membership=only_admin, removed_by=actor)
    assert membership_of(tenant_a.admin, tenant_a.client).role == Role.CLIENT_ADMIN

    # A deactivated second admin does not count: nobody could sign in to run the client.
    second = member(Role.CLIENT_ADMIN, client=tenant_a.client, email="second@example.com")
    User.objects.filter(pk=second.pk).update(is_active=False)
    with pytest.raises(LastClientAdmin):
        remove_member(membership=only_admin, removed_by=tenant_a.admin)
    User.objects.filter(pk=second.pk).update(is_active=True)
    change_role(membership=only_admin, role=Role.CLIENT_MEMBER, changed_by=tenant_a.admin)
    assert membership_of(tenant_a.admin, tenant_a.client).role == Role.CLIENT_MEMBER


def test_changes_and_removals_are_audited_and_leave_the_account(tenant_a, tenant_b):
    invite_member(client=tenant_b.client, email=tenant_a.agent.email, role=Role.CLIENT_MEMBER,
                  invited_by=tenant_b.admin)
    membership = membership_of(tenant_a.agent, tenant_a.client)
    change_role(membership=membership, role=Role.CLIENT_MEMBER, changed_by=tenant_a.admin)
    change_role(membership=membership, role=Role.CLIENT_MEMBER, changed_by=tenant_a.admin)  # no change, no row
    [update] = audit_rows(AuditAction.UPDATE, membership.pk)
    assert update.changes == {"email": tenant_a.agent.email, "role": ["call_center_agent", "client_member"]}
    assert update.actor == tenant_a.admin and update.client == tenant_a.client

    remove_member(membership=membership, removed_by=tenant_a.admin)
    [deleted] = audit_rows(AuditAction.DELETE, membership.pk)
    assert deleted.changes == {"email": tenant_a.agent.email, "role": "client_member"}
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=tenant_a.agent.pk, is_active=True).exists()
    assert membership_of(tenant_a.agent, tenant_b.client).role == Role.CLIENT_MEMBER
    with pytest.raises(Exception, match="no longer on the team"):
        remove_member(membership=membership, removed_by=tenant_a.admin)


def test_inviting_twice_a_deactivated_account_or_a_bad_address_is_refused(tenant_a):
    with pytest.raises(AlreadyMember):
        invite_member(client=tenant_a.client, email=tenant_a.member.email.upper(), role=Role.CLIENT_ADMIN,
                      invited_by=tenant_a.admin)
    User.objects.filter(pk=tenant_a.agent.pk).update(is_active=False)
    tenant_a.agent.memberships.all().delete()
    with pytest.raises(AccountDeactivated):
        invite_member(client=tenant_a.client, email=tenant_a.agent.email, role=Role.CLIENT_MEMBER,
                      invited_by=tenant_a.admin)
    for bad in ("", "not-an-email", "a@b", "x" * 250 + "@example.com"):
        with pytest.raises(ValidationError) as error:
            invite_member(client=tenant_a.client, email=bad, role=Role.CLIENT_MEMBER, invited_by=tenant_a.admin)
        assert "email" in error.value.message_dict
    assert membership_of(tenant_a.member, tenant_a.client).role == Role.CLIENT_MEMBER


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(tenant_a):
    second = member(Role.CLIENT_ADMIN, client=tenant_a.client, email="second@example.com")
    first_membership, second_membership = (membership_of(user, tenant_a.client) for user in (tenant_a.admin, second))
    outcome = {}
    demoted = threading.Event()

    def first_demotes_second():
        try:
            with transaction.atomic():
                change_role(membership=second_membership, role=Role.CLIENT_MEMBER, changed_by=tenant_a.admin)
                demoted.set()
                time.sleep(0.5)  # the other demotion starts while this one holds its locks
            outcome["first"] = "ok"
        finally:
            connection.close()

    def second_demotes_first():
        demoted.wait(5)
        try:
            change_role(membership=first_membership, role=Role.CLIENT_MEMBER, changed_by=second)
            outcome["second"] = "ok"
        except (NotPermitted, LastClientAdmin) as error:
            outcome["second"] = type(error).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=first_demotes_second), threading.Thread(target=second_demotes_first)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # The second waited for the first, then found it was no longer an admin.
    assert outcome == {"first": "ok", "second": "NotPermitted"}
    assert Membership.objects.filter(client=tenant_a.client, role=Role.CLIENT_ADMIN).count() == 1
