"""Fixtures every app's tests share: two tenants (so isolation is tested everywhere), users of every
role, API clients, and a clean Redis test database per test; and the session clock (`MOBUL_TEST_CLOCK`)."""

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.choices import OrganizationKind, Role
from accounts.tests.factories import ClientFactory, OrganizationFactory, api_key_for, member
from analytics.partitions import ensure_partitions, list_partitions


TEST_CLOCK = "MOBUL_TEST_CLOCK"
# How far the session's clock is from real time, in seconds, for the Python processes tests start.
TEST_CLOCK_SHIFT = "MOBUL_TEST_CLOCK_SHIFT"
CHILD_CLOCK_PATH = Path(__file__).resolve().parent / "mobul" / "tests" / "clock"


def pytest_configure(config):
    """With MOBUL_TEST_CLOCK=2027-03-01T00:00:30Z the whole session (database creation and migrations
    included) runs on a clock that starts at that instant and ticks; Python processes the tests start follow
    it (mobul/tests/clock/sitecustomize.py). PostgreSQL's now() stays real: the code takes "now" from Python."""
    value = os.environ.get(TEST_CLOCK)
    if not value:
        return
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"{TEST_CLOCK}={value!r} is not an ISO 8601 instant such as 2027-03-01T00:00:30Z.")
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{TEST_CLOCK}={value!r} needs a time zone, such as Z.")
    travel = time_machine.travel(instant, tick=True)
    travel.start()
    # The first read starts the tick, so the shift measured now holds for the whole session. Real time comes from
    # the escape hatch: this process may itself have been started shifted (a session inside a session's test).
    os.environ[TEST_CLOCK_SHIFT] = repr(time.time() - time_machine.escape_hatch.time.time())
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHILD_CLOCK_PATH), os.environ.get("PYTHONPATH")]))
    config.add_cleanup(travel.stop)


def pytest_report_header(config):
    if os.environ.get(TEST_CLOCK):
        return f"clock: {os.environ[TEST_CLOCK]} (ticking), PostgreSQL's now() real"
    return None


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


@pytest.fixture
def unpartitioned(db):
    """The events table without a single partition, for this test (DDL is transactional in PostgreSQL)."""
    with connection.cursor() as cursor:
        for partition in list_partitions():
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(partition.name)}")


@pytest.fixture
def installed_at(time_machine, unpartitioned):
    """installed_at(instant): the clock moves to `instant` and ticks on from there, and the events partitions are
    those of a database migrated at that instant (analytics' migrations run ensure_partitions()). Returns it.

    For tests of dates: they run the same whatever day the suite runs, and whatever partitions the test database
    was created with."""

    def install(instant):
        time_machine.move_to(instant)
        ensure_partitions()
        return instant

    return install
