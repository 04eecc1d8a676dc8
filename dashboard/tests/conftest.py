import pytest

from accounts.choices import Role
from accounts.tests.factories import member

from .factories import build_world


@pytest.fixture
def world_a(tenant_a):
    return build_world(tenant_a, "a", phone_prefix="31")


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b, "b", phone_prefix="41")


@pytest.fixture
def agency_admin_a(tenant_a):
    """An agency admin of tenant A's agency: reaches every client of that agency, and no other."""
    return member(Role.AGENCY_ADMIN, organization=tenant_a.agency, email="agency-a@example.com")


@pytest.fixture
def signed_in(client):
    """signed_in(user) -> the Django test client, signed in as `user`."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
