"""Tenant isolation, walked over every API operation of the published OpenAPI schema (not a hand list).

Tenant A (with its API key, and as a signed-in user) meets each of tenant B's objects: every read, update,
delete and action on it answers exactly like an id that does not exist; no list shows B's rows; a filter
given B's id answers exactly like one given an unknown id, so filters cannot probe B either.
"""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.services import record_event
from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id, tracking_number_for
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, ImportJob
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory
from giftcards.crypto import encrypt_code
from giftcards.models import GiftCard
from giftcards.tests.factories import GiftCardPoolFactory, stock
from mailpieces.models import PrintRun
from mailpieces.tests.factories import ready_proof
from webhooks import publish
from webhooks.choices import EventType
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

MISSING_ID = 987654321
METHODS = ("get", "post", "put", "patch", "delete")
# Public by design: reached with a recipient's secret token, never with an object id.
PUBLIC = {"/api/v1/redeem/"}
# A filter names another resource: which of a tenant's objects its value is.
FILTER_RESOURCES = {
    "client": "clients", "campaign": "campaigns", "template": "templates", "pool": "gift-card-pools",
    "recipient": "recipients", "recipient__campaign": "campaigns", "tracking_number": "tracking-numbers",
    "endpoint": "webhook-endpoints",
}


def _world(tenant, phone):
    """One object of every kind the API serves, keyed by the path segment that serves it."""
    template = MailTemplateFactory(client=tenant.client)
    pool = GiftCardPoolFactory(client=tenant.client)
    stock(pool, 2, prefix=f"ISO{tenant.client.pk}")
    campaign = CampaignFactory(client=tenant.client, template=template, gift_card_pool=pool)
    recipient = create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                                 city="Boston", postal_code="02108")
    proof = ready_proof(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE)
    job = ImportJob.objects.create(client=tenant.client, campaign=campaign,
                                   file=ContentFile(b"first_name\nAnn\n", name="people.csv"))
    number = tracking_number_for(campaign, phone_number=phone)
    call = CallSession.objects.create(provider_call_id=new_call_id(), tracking_number=number, campaign=campaign)
    record_event(event_type="purl_viewed", source="purl", campaign=campaign, recipient_id=recipient.pk)
    run = PrintRun.objects.create(campaign=campaign, chunk_pieces=1000)
    endpoint = WebhookEndpoint.objects.create(client=tenant.client, url="https://hooks.example.com/mobul",
                                              event_types=[EventType.PROOF_READY], secret_last4="abcd",
                                              secret_encrypted=encrypt_code("whsec_dGVzdA=="))
    (message_id,) = publish(client_id=tenant.client.pk, event_type=EventType.PROOF_READY, data={})
    return {
        "clients": tenant.client.pk, "templates": template.pk, "campaigns": campaign.pk,
        "recipients": recipient.pk, "imports": job.pk, "gift-card-pools": pool.pk,
        "gift-cards": GiftCard.objects.filter(pool=pool).first().pk, "tracking-numbers": number.pk,
        "call-sessions": call.pk, "print-runs": run.pk, "versions": proof.version,
        "webhook-endpoints": endpoint.pk, "webhook-messages": message_id,
    }


@pytest.fixture
def worlds(tenant_a, tenant_b):
    return _world(tenant_a, "+16175550100"), _world(tenant_b, "+16175550200")


@pytest.fixture(params=["api key", "signed-in user"])
def tenant_a_client(request, tenant_a):
    client = APIClient()
    if request.param == "api key":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_a.raw_key}")
    else:
        client.force_login(tenant_a.admin)
    return client


@pytest.fixture
def schema(tenant_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_a.raw_key}")
    return client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method in METHODS:
            if method in operations and path not in PUBLIC:
                yield path, method, operations[method]


def _resource(path):
    return path.removeprefix("/api/v1/").split("/")[0]


def _fill(path, ids):
    """The path with every parameter set to the object (of `ids`) of the resource it names."""
    def value(match):
        name = match.group(1)
        resource = _resource(path) if name in ("id", "pk") else f"{name.removesuffix('_pk')}s"
        assert resource in ids, f"{path}: no test object for {{{name}}}: add one to _world()"
        return str(ids[resource])
    return re.sub(r"\{(\w+)\}", value, path)


def _missing(path):
    return re.sub(r"\{\w+\}", str(MISSING_ID), path)


def _send(client, method, url, query=None):
    if method == "get":
        return client.get(url, query or {})
    return getattr(client, method)(url, {}, format="json")


def _shape(response):
    body = response.json() if response.get("Content-Type", "").startswith("application/json") else None
    return response.status_code, body


def test_every_operation_on_another_tenants_object_answers_like_a_missing_one(tenant_a_client, worlds, schema):
    _, theirs = worlds
    checked = []
    for path, method, _operation in _operations(schema):
        if "{" not in path:
            continue
        their_response = _send(tenant_a_client, method, _fill(path, theirs))
        missing_response = _send(tenant_a_client, method, _missing(path))
        assert their_response.status_code == 404, f"{method.upper()} {path}: {their_response.status_code}"
        assert _shape(their_response) == _shape(missing_response), f"{method.upper()} {path}"
        checked.append(f"{method} {path}")
    assert len(checked) >= 20, checked


def test_lists_show_only_the_callers_rows_and_filters_cannot_probe(tenant_a_client, worlds, schema):
    mine, theirs = worlds
    now = timezone.now()
    time_range = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}
    lists = 0
    for path, method, operation in _operations(schema):
        if method != "get" or "{" in path or path.endswith("/me/"):
            continue
        resource = _resource(path)
        required = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}
        base = {name: time_range[name] for name in required}
        listed = tenant_a_client.get(path, base)
        assert listed.status_code == 200, f"{path}: {listed.status_code} {listed.content[:300]}"
        rows = listed.json()["results"]
        if resource in mine:
            ids = {row["id"] for row in rows}
            assert mine[resource] in ids and theirs[resource] not in ids, path
        else:  # events: rows name their campaign
            campaigns = {row["campaign"] for row in rows}
            assert mine["campaigns"] in campaigns and theirs["campaigns"] not in campaigns, path
        lists += 1
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] != "query" or name not in FILTER_RESOURCES:
                continue
            probe = tenant_a_client.get(path, {**base, name: theirs[FILTER_RESOURCES[name]]})
            unknown = tenant_a_client.get(path, {**base, name: MISSING_ID})
            assert _shape(probe) == _shape(unknown), f"{path}?{name}= tells B's id from a missing one"
            if probe.status_code == 200:
                assert probe.json()["results"] == [], f"{path}?{name}= shows B's rows"
    assert lists >= 9
