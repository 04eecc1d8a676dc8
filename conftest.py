"""Fixtures every app's tests share: two tenants (so isolation is tested everywhere), users of every
role, API clients, and a clean Redis test database per test."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.choices import OrganizationKind, Role
from accounts.tests.factories import ClientFactory, OrganizationFactory, api_key_for, member


@dataclass
class Tenant:
    agency: object
    client: object
    admin: object
    member: object
    agent: object
    api_key: object
    raw_key: str


def _tenant(label):
    agency = OrganizationFactory(name=f"Agency {label}", slug=f"agency-{label}")
    client = ClientFactory(organization=agency, name=f"Client {label}", slug=f"client-{label}")
    api_key, raw_key = api_key_for(client)
    return Tenant(
        agency=agency,
        client=client,
        admin=member(Role.CLIENT_ADMIN, client=client, email=f"admin-{label}@example.com"),
        member=member(Role.CLIENT_MEMBER, client=client, email=f"member-{label}@example.com"),
        agent=member(Role.CALL_CENTER_AGENT, client=client, email=f"agent-{label}@example.com"),
        api_key=api_key,
        raw_key=raw_key,
    )


@pytest.fixture
def tenant_a(db):
    return _tenant("a")


@pytest.fixture
def tenant_b(db):
    return _tenant("b")


@pytest.fixture
def platform_admin(db):
    platform = OrganizationFactory(name="Platform", slug="platform", kind=OrganizationKind.PLATFORM)
    return member(Role.PLATFORM_ADMIN, organization=platform, email="platform@example.com")


@pytest.fixture
def staff_client(client, platform_admin):
    """The Django test client signed in as a staff superuser."""
    platform_admin.is_staff = platform_admin.is_superuser = True
    platform_admin.save()
    client.force_login(platform_admin)
    return client


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def key_client(tenant_a):
    """An API client authenticated with tenant A's read/write key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_a.raw_key}")
    return client


@pytest.fixture(autouse=True)
def _clean_cache():
    # The test settings point the cache at its own Redis database, so clearing it is safe.
    cache.clear()
    yield
