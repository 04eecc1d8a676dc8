"""/app/settings/webhooks/: client admins manage endpoints, see the secret once, rotate it, read the delivery log
and replay; members are refused; another tenant's endpoint or message is a 404 for every action."""

import pytest
from django.urls import reverse

from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookEndpoint, WebhookMessage
from webhooks.services import deliver

from .receivers import start_receiver

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:webhooks")


@pytest.fixture
def admin_a(client, tenant_a):
    client.force_login(tenant_a.admin)
    return client


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(admin_a, tenant_a, receiver):
    response = admin_a.post(LIST, {"url": receiver.url, "description": "CRM",
                                   "event_types": ["gift_card.claimed", "call.completed"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get(client=tenant_a.client)
    secret = response.context["new_secret"]["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert endpoint.event_types == ["call.completed", "gift_card.claimed"]
    page = admin_a.get(LIST).content.decode()
    assert secret not in page and endpoint.secret_hint in page and receiver.url in page


def test_an_invalid_endpoint_is_a_400_with_the_reason_at_the_field(admin_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    response = admin_a.post(LIST, {"url": "https://169.254.169.254/latest", "event_types": ["proof.ready"]})
    assert response.status_code == 400
    assert "link-local" in " ".join(response.context["form"].errors["url"])
    assert admin_a.post(LIST, {"url": "https://x.example.com", "event_types": ["nope"]}).status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_members_and_agents_cannot_manage_webhooks(client, tenant_a):
    for user in (tenant_a.member, tenant_a.agent):
        client.force_login(user)
        assert client.get(LIST).status_code == 403
        assert LIST not in client.get(reverse("dashboard:overview")).content.decode()  # no nav link either


def test_edit_disable_rotate_log_and_replay(admin_a, tenant_a, local_network, endpoint_for,
                                            django_capture_on_commit_callbacks):
    failing = start_receiver(status=500, answer=b"receiver exploded")
    try:
        endpoint, old_secret = endpoint_for(tenant_a.client, failing.url, [EventType.PROOF_READY])
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
        deliver(message_id=message_id)
        page_url = reverse("dashboard:webhook_endpoint", kwargs={"endpoint_id": endpoint.pk})
        page = admin_a.get(page_url).content.decode()
        assert "HTTP 500" in page and "receiver exploded" in page and " ms" in page and "Pending" in page

        failing.status = 200
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_a.post(reverse("dashboard:webhook_replay", kwargs={"message_id": message_id}))
        assert response.status_code == 302 and response["Location"] == page_url
        message = WebhookMessage.objects.get(pk=message_id)
        assert message.status == MessageStatus.DELIVERED and message.deliveries.count() == 2
        assert "Delivered" in admin_a.get(page_url).content.decode()

        rotated = admin_a.post(reverse("dashboard:webhook_rotate", kwargs={"endpoint_id": endpoint.pk}))
        new_secret = rotated.context["new_secret"]
        assert new_secret != old_secret and new_secret in rotated.content.decode()
        assert rotated["Cache-Control"] == "no-store"

        response = admin_a.post(page_url, {"url": failing.url, "description": "off for now",
                                           "event_types": ["proof.ready"]})  # is_enabled unticked
        assert response.status_code == 302
        endpoint.refresh_from_db()
        assert not endpoint.is_enabled and endpoint.description == "off for now"
        assert "Disabled" in admin_a.get(LIST).content.decode()
    finally:
        failing.stop()


def test_tenant_b_reaches_none_of_tenant_as_endpoints_or_messages(client, tenant_a, tenant_b, endpoint_for):
    endpoint, _ = endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks", [EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    client.force_login(tenant_b.admin)
    assert endpoint.url not in client.get(LIST).content.decode()
    for name, kwargs, methods in [("webhook_endpoint", {"endpoint_id": endpoint.pk}, ("get", "post")),
                                  ("webhook_rotate", {"endpoint_id": endpoint.pk}, ("post",)),
                                  ("webhook_replay", {"message_id": message_id}, ("post",))]:
        for method in methods:
            assert getattr(client, method)(reverse(f"dashboard:{name}", kwargs=kwargs)).status_code == 404, name
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_encrypted == "" and endpoint.is_enabled
    assert WebhookMessage.objects.get(pk=message_id).deliveries.count() == 0
