import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command

from accounts.access import capabilities_for, clients_for
from accounts.choices import ALL_CAPABILITIES, Role
from accounts.models import Client, Membership, Organization, User
from campaigns.models import Campaign
from mobul.tests.processes import ROOT, database_url

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


@pytest.mark.django_db(transaction=True)
def test_seed_demo_refuses_to_run_in_production():
    # Demo users with a published password have no place in production: the command stops before writing.
    environment = {**os.environ, "MOBUL_TESTING": "0", "MOBUL_ENV": "production", "SECRET_KEY": "s" * 50,
                   "ALLOWED_HOSTS": "mobul.example", "GIFT_CARD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                   "GIFT_CARD_HASH_KEY": "h" * 40, "DATABASE_URL": database_url(),
                   "REDIS_URL": settings.CACHE_REDIS_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    result = subprocess.run([sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "seed_demo does not run when MOBUL_ENV=production" in result.stderr
    assert not User.objects.exists() and not Organization.objects.exists()
