"""The API's main flows through a real PgBouncer in transaction pooling mode, with DATABASE_PGBOUNCER settings.

The test starts PgBouncer on a free port in front of the test database and points Django's `default` at it
(no application pool, no server-side cursors), then drives the API as an integrator would: a template, a pool
and its codes, a campaign with an imported list walked to `active`, redemptions, events and analytics. Every
statement goes through PgBouncer, whose server connections are shared between transactions.
"""

import os
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from campaigns.tests.factories import csv_bytes, person
from mailpieces.tests.factories import CLEAN_BACK, CLEAN_FRONT
from mobul.settings import database_config

from .servers import PGBOUNCER, PgBouncer, django_databases

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 30
CARDS = 20


@pytest.fixture
def pgbouncer(tenant_a):
    if not os.path.exists(PGBOUNCER):
        pytest.skip(f"PgBouncer not installed ({PGBOUNCER}); .ci/run installs the Debian package pgbouncer")
    database = connection.settings_dict
    bouncer = PgBouncer(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432), database["NAME"])
    try:
        with django_databases({"default": database_config(bouncer.url(), pgbouncer=True)}):
            assert connection.settings_dict["PORT"] == bouncer.port
            yield bouncer
    finally:
        bouncer.stop()


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


def test_main_flows_through_pgbouncer_in_transaction_mode(pgbouncer, key_client, api_client, tenant_a):
    assert pgbouncer.show("CONFIG") and {row["key"]: row["value"] for row in pgbouncer.show("CONFIG")}[
        "pool_mode"] == "transaction"
    assert "pool" not in connection.settings_dict["OPTIONS"] and connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None

    template = _ok(key_client.post("/api/v1/templates/", {"name": "Card", "size": "6x9", "front_html": CLEAN_FRONT,
                                                          "back_html": CLEAN_BACK}), 201)
    pool = _ok(key_client.post("/api/v1/gift-card-pools/", {"name": "Spring", "brand": "Target",
                                                            "denomination": "10.00", "currency": "usd"}), 201)
    codes = "Card Code\n" + "".join(f"CODE-{n:04d}-BOUNCE\n" for n in range(CARDS))
    upload = _ok(key_client.post(f"/api/v1/gift-card-pools/{pool['id']}/cards/import/",
                                 {"file": SimpleUploadedFile("codes.csv", codes.encode())}, format="multipart"), 202)
    assert _ok(key_client.get(f"/api/v1/imports/{upload['id']}/"))["status"] == "completed"

    campaign = _ok(key_client.post("/api/v1/campaigns/", {
        "name": "Through PgBouncer", "template": template["id"], "gift_card_pool": pool["id"],
        "mail_date": (timezone.localdate() + timedelta(days=7)).isoformat(),
    }), 201)
    data = csv_bytes([person(n) for n in range(1, RECIPIENTS + 1)])
    job = _ok(key_client.post(f"/api/v1/campaigns/{campaign['id']}/recipients/import/",
                              {"file": SimpleUploadedFile("list.csv", data, "text/csv")}, format="multipart"), 202)
    job = _ok(key_client.get(f"/api/v1/imports/{job['id']}/"))
    assert (job["status"], job["rows_imported"]) == ("completed", RECIPIENTS)
    # Rendered by the (eager) task once the request commits.
    _ok(key_client.post(f"/api/v1/campaigns/{campaign['id']}/proofs/"), 202)
    proof = _ok(key_client.get(f"/api/v1/campaigns/{campaign['id']}/proofs/1/"))
    assert (proof["status"], proof["findings"]) == ("ready", [])
    for status in ("proofed", "approved", "scheduled", "in_production", "mailed", "active"):
        _ok(key_client.post(f"/api/v1/campaigns/{campaign['id']}/transition/", {"to": status}))

    recipients = _ok(key_client.get(f"/api/v1/campaigns/{campaign['id']}/recipients/"))["results"]
    assert len(recipients) == RECIPIENTS
    first = _ok(api_client.post("/api/v1/redeem/", {"token": recipients[0]["redemption_token"]}), 201)
    again = _ok(api_client.post("/api/v1/redeem/", {"token": recipients[0]["redemption_token"]}))
    assert again["code"] == first["code"] and again["already_claimed"] is True
    _ok(api_client.post("/api/v1/redeem/", {"token": recipients[1]["redemption_token"]}), 201)

    now = timezone.now()
    batch = [{"campaign": campaign["id"], "recipient": recipient["id"], "event_type": "purl_viewed",
              "occurred_at": now.isoformat(), "idempotency_key": f"view-{recipient['id']}"}
             for recipient in recipients[:10]]
    assert _ok(key_client.post("/api/v1/events/", {"events": batch}))["accepted"] == 10
    assert _ok(key_client.post("/api/v1/events/", {"events": batch}))["duplicates"] == 10
    events = _ok(key_client.get("/api/v1/events/", {"from": (now - timedelta(hours=1)).isoformat(),
                                                    "to": (now + timedelta(hours=1)).isoformat(),
                                                    "campaign": campaign["id"]}))
    assert {event["event_type"] for event in events["results"]} >= {"purl_viewed", "gift_card_claimed"}
    funnel = {stage["stage"]: stage["recipients"] for stage in
              _ok(key_client.get(f"/api/v1/campaigns/{campaign['id']}/analytics/"))["funnel"]}
    assert funnel["visited"] == 10 and funnel["redeemed"] == 2

    # The requests really went through PgBouncer: it served them on its pooled server connections.
    stats = {row["database"]: row for row in pgbouncer.show("STATS")}[connection.settings_dict["NAME"]]
    assert stats["total_xact_count"] > 50
    assert "error" not in pgbouncer.log().lower(), pgbouncer.log()[-2000:]
