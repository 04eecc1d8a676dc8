"""/api/v1/webhook-endpoints/ and /api/v1/webhook-messages/: CRUD scoped to the key's client, the secret shown only
when made, rotation, the message log and replay; tenant B never reaches tenant A's."""

import pytest
from rest_framework.test import APIClient

from accounts.choices import ApiKeyScope
from accounts.models import AuditLog
from accounts.tests.factories import api_key_for
from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db


def key_client_of(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.raw_key}")
    return client


def create(client, url, event_types=("gift_card.claimed",)):
    return client.post("/api/v1/webhook-endpoints/", {"url": url, "event_types": list(event_types),
                                                      "description": "CRM"}, format="json")


def test_create_shows_the_secret_once_then_only_its_hint(tenant_a, receiver):
    client = key_client_of(tenant_a)
    response = create(client, receiver.url)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["client"] == tenant_a.client.pk
    assert body["secret_hint"] == "whsec_…" + body["secret"][-4:]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] not in endpoint.secret_encrypted  # encrypted at rest
    detail = client.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/").json()
    assert "secret" not in detail and detail["secret_hint"] == body["secret_hint"]
    listed = client.get("/api/v1/webhook-endpoints/").json()["results"]
    assert [row["id"] for row in listed] == [endpoint.pk] and "secret" not in listed[0]
    audit = AuditLog.objects.get(object_type="webhooks.WebhookEndpoint", object_id=str(endpoint.pk), action="create")
    assert body["secret"] not in str(audit.changes)


@pytest.mark.parametrize("body, field", [
    ({"url": "https://hooks.example.com/x", "event_types": ["gift_card.stolen"]}, "event_types"),
    ({"url": "https://hooks.example.com/x", "event_types": []}, "event_types"),
    ({"url": "not a url", "event_types": ["proof.ready"]}, "url"),
    ({"url": "https://127.0.0.1/x", "event_types": ["proof.ready"]}, "url"),
    ({"url": "https://[::1", "event_types": ["proof.ready"]}, "url"),
])
def test_bad_endpoints_are_a_400_naming_the_field(tenant_a, body, field):
    response = key_client_of(tenant_a).post("/api/v1/webhook-endpoints/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]


def test_a_read_key_cannot_manage_endpoints(tenant_a, receiver):
    _, raw = api_key_for(tenant_a.client, scopes=(ApiKeyScope.READ,), name="reader")
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert create(reader, receiver.url).status_code == 403
    assert reader.get("/api/v1/webhook-endpoints/").status_code == 200


def test_update_disable_and_delete(tenant_a, receiver):
    client = key_client_of(tenant_a)
    endpoint_id = create(client, receiver.url).json()["id"]
    response = client.patch(f"/api/v1/webhook-endpoints/{endpoint_id}/",
                            {"is_enabled": False, "event_types": ["proof.ready", "call.completed"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["disabled_reason"] == "by_user"
    assert response.json()["event_types"] == ["call.completed", "proof.ready"]
    assert publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={}) == []
    assert client.delete(f"/api/v1/webhook-endpoints/{endpoint_id}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


def test_rotate_secret_returns_the_new_one_and_keeps_the_old_for_the_overlap(tenant_a, receiver):
    client = key_client_of(tenant_a)
    created = create(client, receiver.url).json()
    rotated = client.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"] and rotated.json()["previous_secret_expires_at"]


def test_messages_are_listed_with_their_attempts_and_replayed(tenant_a, receiver, django_capture_on_commit_callbacks):
    client = key_client_of(tenant_a)
    endpoint_id = create(client, receiver.url, ["proof.ready"]).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={"proof": 3})
    listed = client.get("/api/v1/webhook-messages/", {"endpoint": endpoint_id}).json()
    assert [row["id"] for row in listed["results"]] == [message_id]
    assert listed["results"][0]["payload"]["data"] == {"proof": 3}
    assert listed["results"][0]["status"] == MessageStatus.DELIVERED
    with django_capture_on_commit_callbacks(execute=True):
        replayed = client.post(f"/api/v1/webhook-messages/{message_id}/replay/")
    assert replayed.status_code == 202, replayed.content
    receiver.wait_for(2)
    detail = client.get(f"/api/v1/webhook-messages/{message_id}/").json()
    assert [attempt["is_replay"] for attempt in detail["deliveries"]] == [True, False]
    assert all(attempt["succeeded"] and attempt["status_code"] == 200 for attempt in detail["deliveries"])
    assert WebhookDelivery.objects.filter(message_id=message_id).count() == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


def test_tenant_b_cannot_see_change_rotate_or_replay_tenant_as(tenant_a, tenant_b, receiver):
    endpoint_id = create(key_client_of(tenant_a), receiver.url, ["proof.ready"]).json()["id"]
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    b = key_client_of(tenant_b)
    assert b.get("/api/v1/webhook-endpoints/").json()["results"] == []
    assert b.get("/api/v1/webhook-messages/").json()["results"] == []
    assert b.get("/api/v1/webhook-messages/", {"endpoint": endpoint_id}).status_code == 400
    for method, url in [("get", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
                        ("patch", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
                        ("delete", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
                        ("post", f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret/"),
                        ("get", f"/api/v1/webhook-messages/{message_id}/"),
                        ("post", f"/api/v1/webhook-messages/{message_id}/replay/")]:
        assert getattr(b, method)(url, {}, format="json").status_code == 404, (method, url)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.previous_secret_encrypted == "" and endpoint.is_enabled
    assert WebhookMessage.objects.get(pk=message_id).status == MessageStatus.PENDING
