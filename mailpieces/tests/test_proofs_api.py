"""/api/v1/campaigns/{id}/proofs/: start a proof (202), poll it, list them newest first, download its PDF and
thumbnails; tenant-scoped like every campaign sub-resource, POST needs the write scope, retries replay."""

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from accounts.choices import ApiKeyScope
from accounts.tests.factories import api_key_for
from mailpieces.models import Proof
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(tenant_a):
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    add_recipient(campaign, 2, first_name="Bartholomew-Alexander")
    return campaign


def _url(campaign, suffix=""):
    return f"/api/v1/campaigns/{campaign.pk}/proofs/{suffix}"


def _start(client, campaign, **headers):
    # Runs the on-commit hook that queues the (eager) proof task, as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(_url(campaign), **headers)


def _key_client(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_a_proof_is_started_polled_listed_and_downloaded(key_client, campaign):
    started = _start(key_client, campaign)
    assert started.status_code == 202, started.json()
    assert started.json()["version"] == 1
    proof = key_client.get(_url(campaign, "1/")).json()
    assert (proof["status"], proof["stale"], proof["progress_percent"]) == ("ready", False, 100)
    assert (proof["pieces_done"], proof["pieces_total"]) == (2, 2)
    assert proof["findings"] == []
    assert [piece["reasons"] for piece in proof["pieces"]] == [["first", "longest_address"], ["longest_name"]]

    pdf = key_client.get(proof["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    thumbnail = key_client.get(proof["pieces"][1]["back_thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    assert b"".join(thumbnail.streaming_content).startswith(b"\x89PNG")
    assert "private" in thumbnail["Cache-Control"]
    missing = key_client.get(_url(campaign, "1/thumbnail/"), {"piece": 9, "side": "front"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    _start(key_client, campaign)
    assert [row["version"] for row in key_client.get(_url(campaign)).json()["results"]] == [2, 1]


def test_a_proof_goes_stale_when_the_list_changes(key_client, campaign):
    _start(key_client, campaign)
    add_recipient(campaign, 3)
    assert key_client.get(_url(campaign, "1/")).json()["stale"] is True


def test_starting_needs_the_write_scope_and_the_manage_campaigns_capability(api_client, tenant_a, campaign):
    _, read_only = api_key_for(tenant_a.client, scopes=[ApiKeyScope.READ], name="read only")
    reader = _key_client(read_only)
    refused = _start(reader, campaign)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert reader.get(_url(campaign)).status_code == 200
    api_client.force_login(tenant_a.agent)
    assert _start(api_client, campaign).status_code == 403
    assert api_client.get(_url(campaign)).status_code == 200
    api_client.force_login(tenant_a.member)
    assert _start(api_client, campaign).status_code == 202
    assert Proof.objects.filter(campaign=campaign).count() == 1


def test_another_tenant_s_proofs_are_a_404_like_missing_ones(tenant_a, tenant_b, key_client, campaign):
    _start(key_client, campaign)
    theirs = _key_client(tenant_b.raw_key)
    for path in ("", "1/", "1/pdf/", "1/thumbnail/?piece=1&side=front"):
        response = theirs.get(_url(campaign, path))
        missing = theirs.get(f"/api/v1/campaigns/987654321/proofs/{path}")
        assert response.status_code == 404 and response.json() == missing.json(), path
    assert _start(theirs, campaign).status_code == 404
    assert Proof.objects.filter(campaign=campaign).count() == 1


def test_a_retried_start_with_its_idempotency_key_starts_one_proof(key_client, campaign):
    first = _start(key_client, campaign, HTTP_IDEMPOTENCY_KEY="proof-1")
    again = _start(key_client, campaign, HTTP_IDEMPOTENCY_KEY="proof-1")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Proof.objects.filter(campaign=campaign).count() == 1
    _start(key_client, campaign, HTTP_IDEMPOTENCY_KEY="proof-2")
    assert Proof.objects.filter(campaign=campaign).count() == 2


def test_a_campaign_without_recipients_gets_a_readable_409(key_client, tenant_a):
    empty = campaign_with(tenant_a.client)
    response = _start(key_client, empty)
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "proof_refused", "field": "recipients",
                                        "message": "Add recipients first: a proof shows real pieces of the "
                                                   "mailing list."}


def test_the_schema_documents_the_proof_endpoints(key_client):
    paths = key_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    base = "/api/v1/campaigns/{campaign_pk}/proofs/"
    assert {"get", "post"} <= paths[base].keys()
    assert "202" in paths[base]["post"]["responses"]
    assert "get" in paths[base + "{version}/"]
    assert "application/pdf" in paths[base + "{version}/pdf/"]["get"]["responses"]["200"]["content"]
    parameters = {parameter["name"] for parameter in paths[base + "{version}/thumbnail/"]["get"]["parameters"]}
    assert {"piece", "side"} <= parameters
