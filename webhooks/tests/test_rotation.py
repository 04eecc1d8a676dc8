"""A rotated secret overlaps: deliveries carry both signatures until the overlap ends, then only the new one."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks import publish
from webhooks.choices import EventType
from webhooks.services import deliver, rotate_secret, signing_secrets

pytestmark = pytest.mark.django_db

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def send(tenant, receiver):
    (message_id,) = publish(client_id=tenant.client.pk, event_type=EventType.PROOF_READY, data={})
    assert deliver(message_id=message_id).succeeded
    return receiver.received[-1]


def test_both_secrets_sign_during_the_overlap_and_only_the_new_one_after(tenant_a, receiver, endpoint_for,
                                                                        time_machine, settings):
    settings.WEBHOOKS_SECRET_OVERLAP_SECONDS = 24 * 3600
    time_machine.move_to(START, tick=False)
    endpoint, old = endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    assert len(send(tenant_a, receiver).headers["webhook-signature"].split(" ")) == 1
    endpoint, new = rotate_secret(endpoint=endpoint)
    assert new != old and endpoint.previous_secret_expires_at == START + timedelta(hours=24)

    time_machine.move_to(START + timedelta(hours=23, minutes=59), tick=False)
    during = send(tenant_a, receiver)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)

    time_machine.move_to(START + timedelta(hours=24, seconds=1), tick=False)
    after = send(tenant_a, receiver)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_rotating_twice_keeps_only_the_last_previous_secret(tenant_a, receiver, endpoint_for, time_machine):
    time_machine.move_to(START, tick=False)
    endpoint, first = endpoint_for(tenant_a.client, receiver.url, [EventType.PROOF_READY])
    endpoint, second = rotate_secret(endpoint=endpoint)
    endpoint, third = rotate_secret(endpoint=endpoint)
    delivered = send(tenant_a, receiver)
    Webhook(second).verify(delivered.body, delivered.headers)
    Webhook(third).verify(delivered.body, delivered.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(delivered.body, delivered.headers)


def test_the_key_rotation_command_re_encrypts_the_secrets(tenant_a, endpoint_for, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.GIFT_CARD_ENCRYPTION_KEYS = [old]
    endpoint, first = endpoint_for(tenant_a.client, "http://127.0.0.1:9/hooks")
    endpoint, second = rotate_secret(endpoint=endpoint)
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_gift_card_keys", stdout=StringIO())
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new]
    endpoint.refresh_from_db()
    assert signing_secrets(endpoint, endpoint.updated_at) == [second, first]
