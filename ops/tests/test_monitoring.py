"""The staff monitoring page, with pg_stat_statements (a private PostgreSQL started with the library preloaded)
and without it (the shared test server does not preload it)."""

import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper
from django.urls import reverse

from giftcards.tests.factories import GiftCardPoolFactory, stock
from ops import monitoring
from ops.models import DatabaseSizeSnapshot

pytestmark = pytest.mark.django_db
PAGE = "/admin/ops/alert/monitoring/"


def _pg_bin(name):
    found = shutil.which(name) or next(iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is needed to start a server with pg_stat_statements preloaded.")
    return found


def _as_postgres(args):
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="session")
def statements_server():
    """A throwaway PostgreSQL with shared_preload_libraries = pg_stat_statements, on a free port."""
    data = tempfile.mkdtemp(prefix="mobul-pgss-")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    options = (f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c shared_preload_libraries=pg_stat_statements")
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", data, "-o", options, "-w", "-l", f"{data}/log", "start"]),
                   check=True, capture_output=True)
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as db:
            db.execute("CREATE EXTENSION pg_stat_statements")
            db.execute("SELECT pg_sleep(0.05)")
            db.execute("SELECT count(*) FROM pg_class")
        yield port
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def monitored_server(statements_server, settings):
    """MONITORING_DATABASE pointed at the server with pg_stat_statements: a connection made for the test, outside
    settings.DATABASES (so no test database is created for it)."""
    config = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(statements_server), "NAME": "postgres",
              "OPTIONS": {}}
    configured = connections.configure_settings({"default": config, "monitoring": config})["monitoring"]
    wrapper = DatabaseWrapper(configured, "monitoring")
    connections["monitoring"] = wrapper
    settings.MONITORING_DATABASE = "monitoring"
    yield
    wrapper.close()
    del connections["monitoring"]


def test_the_page_lists_the_slowest_queries_when_pg_stat_statements_is_on(staff_client, monitored_server):
    response = staff_client.get(PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    assert "pg_sleep" in page and "is not enabled" not in page
    rows = monitoring.slow_queries().rows
    (sleep,) = [row for row in rows if row["query"] == "SELECT pg_sleep($1)"]
    assert sleep["mean_ms"] >= 50 and sleep["calls"] == 1 and sleep["total_ms"] >= 50
    means = [row["mean_ms"] for row in rows]
    assert len(rows) <= 20 and means == sorted(means, reverse=True)


def test_without_the_extension_the_page_says_how_to_enable_it(staff_client):
    response = staff_client.get(PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    assert "pg_stat_statements is not enabled" in page and "shared_preload_libraries" in page
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in page


def test_with_the_extension_created_but_not_preloaded_the_page_still_explains(staff_client):
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    response = staff_client.get(PAGE)

    page = response.content.decode()
    assert response.status_code == 200 and "pg_stat_statements is not enabled" in page
    assert "must be loaded via" in page  # PostgreSQL's own reason


def test_the_page_shows_every_section(staff_client, tenant_a, key_client, settings):
    pool = GiftCardPoolFactory(client=tenant_a.client, name="Coffee cards")
    stock(pool, 4)
    DatabaseSizeSnapshot.objects.create(day="2026-01-01", size_bytes=10_000_000)
    monitoring.snapshot_database_size()
    key_client.get("/api/v1/campaigns/")

    page = staff_client.get(PAGE).content.decode()

    for heading in ("Alerts", "Database", "Growth (daily snapshots)", "Largest tables", "API latency",
                    "Celery queues", "Gift-card pools"):
        assert heading in page, heading
    assert "max_connections" in page and "Application pool per process: 2–10" in page
    assert "Coffee cards" in page and "GET /api/v1/campaigns/" in page
    assert "<td>events</td>" in page  # the partitioned table, its partitions counted in
    tables = {row["name"]: row for row in monitoring.table_sizes(limit=200)}
    assert tables["events"]["partitioned"] and tables["events"]["partitions"] >= 1
    assert "events_" not in " ".join(tables)  # partitions are not listed on their own
    assert not tables["campaigns"]["partitioned"] and tables["campaigns"]["total_bytes"] > 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(pg_total_relation_size(inhrelid)), count(*) FROM pg_inherits"
                       " WHERE inhparent = 'events'::regclass")
        partitions_bytes, partitions = cursor.fetchone()
    assert (tables["events"]["total_bytes"], tables["events"]["partitions"]) == (partitions_bytes, partitions)
    growth = monitoring.size_growth()
    assert growth[0]["growth_bytes"] == growth[0]["size_bytes"] - 10_000_000 and growth[1]["growth_bytes"] is None
    assert set(monitoring.queue_lengths()) == set(settings.CELERY_QUEUE_NAMES)


def test_a_source_that_is_down_is_shown_as_such(staff_client, settings):
    # The Celery app reads these through Django's settings, so the fixture puts them back after.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_CONNECTION_TIMEOUT, settings.CELERY_BROKER_CONNECTION_MAX_RETRIES = 1, 0
    response = staff_client.get(PAGE)
    assert response.status_code == 200 and "Broker unavailable" in response.content.decode()


def test_only_staff_see_the_page(client, tenant_a):
    client.force_login(tenant_a.admin)
    response = client.get(PAGE)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_alert_list_links_to_the_page(staff_client):
    assert PAGE in staff_client.get(reverse("admin:ops_alert_changelist")).content.decode()
