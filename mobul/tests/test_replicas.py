"""The read-replica router against a real streaming replica (pg_basebackup of a throwaway primary).

The shared cluster on 5432 allows no replication connections, so the test starts its own primary (initdb) on a
free port, migrates a database there, starts a hot standby from a base backup, and points Django's
`default` at the primary and `replica` at the standby. Pausing the standby's WAL replay makes the two differ,
which shows where each read went. The tests use only those two servers, never the test database, so they take
the database blocker off themselves instead of using pytest-django's django_db mark (which allows one alias).
"""

import json
import os
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import connection, transaction
from django.http import JsonResponse
from django.test import Client, override_settings
from django.urls import path
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.tests.factories import ClientFactory, OrganizationFactory, api_key_for, member
from campaigns.models import Campaign
from mobul.replicas import REPLICA, allow_replica_reads, replica_reads
from mobul.settings import MIDDLEWARE, database_config
from mobul.urls import urlpatterns as mobul_urlpatterns

from .servers import Cluster, catch_up, django_databases, postgres_binaries_missing

DATABASE = "mobul"
STICKY_SECONDS = 1
ROUTING = {
    "DATABASE_ROUTERS": ["mobul.replicas.PrimaryReplicaRouter"],
    "MIDDLEWARE": [MIDDLEWARE[0], "mobul.replicas.ReplicaRequestMiddleware", *MIDDLEWARE[1:]],
}


def _names(client_id):
    return sorted(Campaign.objects.filter(client_id=client_id).values_list("name", flat=True))


@replica_reads
def write_then_read(request):
    """A dashboard-like view that reads, writes (ORM or raw SQL), and reads again; plus a read in a transaction."""
    client_id = int(request.GET["client"])
    before = _names(client_id)
    if request.GET["write"] == "orm":
        Campaign.objects.create(client_id=client_id, name="written by the request")
    else:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE campaigns SET name = 'renamed by the request' WHERE client_id = %s"
                           " AND name = 'paused'", [client_id])
    return JsonResponse({"before": before, "after": _names(client_id)})


def read_in_transaction(request):
    client_id = int(request.GET["client"])
    allow_replica_reads(request)
    outside = _names(client_id)
    with transaction.atomic():
        inside = _names(client_id)
    return JsonResponse({"outside": outside, "inside": inside})


urlpatterns = [
    path("write-then-read/", write_then_read),
    path("read-in-transaction/", read_in_transaction),
    *mobul_urlpatterns,
]


@pytest.fixture(scope="module")
def clusters():
    missing = postgres_binaries_missing()
    if missing:
        pytest.skip(missing)
    primary = Cluster.primary()
    try:
        primary.create_migrated_database(DATABASE)
        replica = primary.replica()
    except BaseException:
        primary.stop()
        raise
    yield primary, replica
    replica.stop()
    primary.stop()


@pytest.fixture
def routed(clusters, django_db_blocker):
    primary, replica = clusters
    databases = {"default": database_config(primary.url(DATABASE)), REPLICA: database_config(replica.url(DATABASE))}
    # Each test makes a client of its own, so rows left by an earlier test are never in its answers.
    with (django_db_blocker.unblock(), django_databases(databases),
          override_settings(**ROUTING, ROOT_URLCONF=__name__, DATABASE_REPLICA_STICKY_SECONDS=STICKY_SECONDS)):
        yield primary.url(DATABASE), replica.url(DATABASE)


@pytest.fixture
def paused(routed):
    """The replica has everything written so far, then stops replaying: later writes reach the primary only."""
    primary_url, replica_url = routed
    catch_up(primary_url, replica_url)
    with psycopg.connect(replica_url, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    yield routed
    with psycopg.connect(replica_url, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_resume()")


def _api_client(client):
    _, raw_key = api_key_for(client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # The key's first use records it (a write): done now, and its caller's stickiness waited out, so the
    # measured requests only read.
    assert api.get("/api/v1/campaigns/").status_code == 200
    return api


@pytest.fixture
def tenant(routed):
    client = ClientFactory(organization=OrganizationFactory())
    api = _api_client(client)
    Campaign.objects.create(client=client, name="replicated")
    time.sleep(STICKY_SECONDS + 0.1)
    return client, api


def _campaign_names(api):
    response = api.get("/api/v1/campaigns/")
    assert response.status_code == 200, response.content
    return sorted(item["name"] for item in response.json()["results"])


def test_the_replica_is_a_real_streaming_standby(routed):
    _, replica_url = routed
    with psycopg.connect(replica_url, autocommit=True) as standby:
        assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert standby.execute("SELECT status FROM pg_stat_wal_receiver").fetchone() == ("streaming",)


def test_list_endpoints_read_from_the_replica(tenant, paused):
    client, api = tenant
    Campaign.objects.create(client=client, name="paused")  # on the primary only: the replica is paused
    assert _campaign_names(api) == ["replicated"]
    # Reads outside a request, like a Celery task's, stay on the primary.
    assert _names(client.pk) == ["paused", "replicated"]


def test_dashboard_pages_read_from_the_replica(tenant, paused):
    client, _ = tenant
    browser = Client()
    browser.force_login(member(Role.CLIENT_ADMIN, client=client))
    time.sleep(STICKY_SECONDS + 0.1)  # the membership and the login were written on the primary just now
    Campaign.objects.create(client=client, name="Written after the pause")
    page = browser.get("/app/campaigns/").content.decode()
    assert "replicated" in page and "Written after the pause" not in page


def test_a_caller_that_wrote_reads_from_the_primary_for_a_moment(tenant, paused):
    client, api = tenant
    other_caller = _api_client(client)
    time.sleep(STICKY_SECONDS + 0.1)
    created = api.post("/api/v1/campaigns/", {"name": "created through the API", "client": client.pk})
    assert created.status_code == 201, created.content
    detail = api.get(f"/api/v1/campaigns/{created.json()['id']}/")
    assert detail.status_code == 200 and detail.json()["name"] == "created through the API"
    # The writer lists what it created; another caller reads the (paused) replica.
    assert _campaign_names(api) == ["created through the API", "replicated"]
    assert _campaign_names(other_caller) == ["replicated"]
    time.sleep(STICKY_SECONDS + 0.1)
    assert _campaign_names(api) == ["replicated"]


@pytest.mark.parametrize("write", ["orm", "sql"])
def test_a_request_that_wrote_reads_its_own_writes(tenant, paused, write):
    client, _ = tenant
    Campaign.objects.create(client=client, name="paused")
    body = json.loads(APIClient().get("/write-then-read/", {"client": client.pk, "write": write}).content)
    assert body["before"] == ["replicated"]
    expected = ["paused", "replicated", "written by the request"] if write == "orm" else [
        "renamed by the request", "replicated"]
    assert body["after"] == expected


def test_reads_inside_a_transaction_go_to_the_primary(tenant, paused):
    client, _ = tenant
    Campaign.objects.create(client=client, name="paused")
    body = json.loads(APIClient().get("/read-in-transaction/", {"client": client.pk}).content)
    assert body == {"outside": ["replicated"], "inside": ["paused", "replicated"]}


def test_once_replayed_the_replica_serves_the_new_rows(tenant, routed):
    client, api = tenant
    Campaign.objects.create(client=client, name="later")
    catch_up(*routed)
    assert _campaign_names(api) == ["later", "replicated"]


def _settings_of(environment):
    code = ("from django.conf import settings; import json; print(json.dumps([sorted(settings.DATABASES), "
            "settings.DATABASE_ROUTERS, [m for m in settings.MIDDLEWARE if 'replica' in m]]))")
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], check=True,
                            capture_output=True, text=True, env=environment)
    return json.loads(result.stdout)


def test_without_a_replica_url_nothing_is_routed():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "mobul.settings"}
    environment.pop("DATABASE_REPLICA_URL", None)
    assert _settings_of(environment) == [["default"], [], []]
    environment["DATABASE_REPLICA_URL"] = "postgres://postgres@127.0.0.1:5433/mobul"
    assert _settings_of(environment) == [["default", "replica"], ["mobul.replicas.PrimaryReplicaRouter"],
                                         ["mobul.replicas.ReplicaRequestMiddleware"]]

