"""Staff browse endpoints, messages and attempts; the secret is never shown in full after creation; replay."""

import pytest
from django.urls import reverse

from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db


def test_staff_create_an_endpoint_see_the_secret_once_and_never_again(staff_client, tenant_a, local_network):
    response = staff_client.post(reverse("admin:webhooks_webhookendpoint_add"), {
        "client": tenant_a.client.pk, "url": "http://127.0.0.1:9/hooks", "description": "staff made",
        "event_types": ["proof.ready"], "is_enabled": "on"}, follow=True)
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    (warning,) = [str(message) for message in response.context["messages"] if "signing secret" in str(message)]
    secret = warning.rsplit(" ", 1)[1]
    assert secret.startswith("whsec_") and secret.endswith(endpoint.secret_last4)
    for url in (reverse("admin:webhooks_webhookendpoint_changelist"),
                reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])):
        page = staff_client.get(url).content.decode()
        assert secret not in page and endpoint.secret_hint in page and endpoint.secret_encrypted not in page


def test_staff_replay_a_message_and_read_its_attempts(staff_client, tenant_a, endpoint_for, receiver,
                                                      django_capture_on_commit_callbacks):
    endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    with django_capture_on_commit_callbacks(execute=True):
        (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={"proof": 1})
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:webhooks_webhookmessage_changelist"), {
            "action": "replay_messages", "_selected_action": [message_id]}, follow=True)
    assert "1 message(s) are being sent again." in response.content.decode()
    receiver.wait_for(2)
    message = WebhookMessage.objects.get(pk=message_id)
    assert message.status == MessageStatus.DELIVERED and message.deliveries.count() == 2
    page = staff_client.get(reverse("admin:webhooks_webhookmessage_change", args=[message_id])).content.decode()
    assert "&quot;proof&quot;: 1" in page and page.count("200") >= 2
