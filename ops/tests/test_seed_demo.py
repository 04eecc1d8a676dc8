import pytest
from django.core.management import call_command

from accounts.access import capabilities_for, clients_for
from accounts.choices import ALL_CAPABILITIES, Role
from accounts.models import Client, Membership, Organization, User
from campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def _counts():
    return [model.objects.count() for model in (Organization, Client, User, Membership, Campaign)]


def test_seed_demo_is_idempotent_and_covers_every_role(settings):
    call_command("seed_demo")
    first = _counts()
    admin = User.objects.get(email="admin@mobul.local")
    admin.set_password("changed-by-the-user")
    admin.save()

    call_command("seed_demo")
    assert _counts() == first
    assert User.objects.get(email="admin@mobul.local").check_password("changed-by-the-user")

    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    assert Client.objects.count() == 2 and Campaign.objects.count() >= 1
    assert admin.is_superuser and admin.is_staff
    agency_admin = User.objects.get(email="agency@northwind.example")
    assert set(clients_for(agency_admin)) == set(Client.objects.all())
    owner = User.objects.get(email="owner@acme.example")
    assert owner.check_password(settings.DEMO_PASSWORD)
    assert capabilities_for(owner, Client.objects.get(slug="acme-dental")) == ALL_CAPABILITIES
    assert list(clients_for(owner)) == [Client.objects.get(slug="acme-dental")]
