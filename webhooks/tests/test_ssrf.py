"""Endpoints cannot point into our own network: refused when saved, and again when delivered (DNS can change)."""

import json
import os
import socket
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from webhooks import publish
from webhooks.choices import EventType, MessageStatus
from webhooks.models import WebhookDelivery, WebhookMessage
from webhooks.security import resolve
from webhooks.services import create_endpoint, deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_like(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOKS_ALLOW_HTTP = False
    return settings


@pytest.fixture
def dns(monkeypatch):
    """dns({"hooks.example.com": "93.184.216.34"}): what the resolver answers for these names."""
    real = socket.getaddrinfo

    def answers(table):
        def getaddrinfo(host, port, *args, **kwargs):
            if host in table:
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
            return real(host, port, *args, **kwargs)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return answers


@pytest.mark.parametrize("url, says", [
    ("https://127.0.0.1/hooks", "loopback"),
    ("https://[::1]/hooks", "loopback"),
    ("https://10.1.2.3/hooks", "private"),
    ("https://192.168.0.10/hooks", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://0.0.0.0/", "reserved"),
    ("https://localhost:8443/hooks", "loopback"),
    ("http://93.184.216.34/hooks", "https://"),
    ("ftp://93.184.216.34/hooks", "https://"),
    ("https://user:pw@93.184.216.34/hooks", "no user name"),
    ("https://no-such-host.invalid/hooks", "could not be resolved"),
])
def test_refused_at_registration(tenant_a, production_like, url, says):
    with pytest.raises(ValidationError) as refused:
        create_endpoint(client=tenant_a.client, url=url, event_types=[EventType.PROOF_READY])
    assert says in str(refused.value.message_dict["url"])


def test_a_hostname_that_resolves_to_a_private_address_is_refused(tenant_a, production_like, dns):
    dns({"internal.example.com": "10.0.0.7"})
    with pytest.raises(ValidationError, match="resolves to 10.0.0.7, a private network address"):
        create_endpoint(client=tenant_a.client, url="https://internal.example.com/x",
                        event_types=[EventType.PROOF_READY])


def test_a_public_https_endpoint_is_accepted(tenant_a, production_like, dns):
    dns({"hooks.example.com": "93.184.216.34"})
    endpoint, _ = create_endpoint(client=tenant_a.client, url="https://hooks.example.com/x",
                                  event_types=[EventType.PROOF_READY])
    assert resolve(endpoint.url).address == "93.184.216.34"


def test_dns_that_changes_after_registration_is_refused_at_delivery(tenant_a, production_like, dns):
    dns({"hooks.example.com": "93.184.216.34"})
    create_endpoint(client=tenant_a.client, url="https://hooks.example.com/x", event_types=[EventType.PROOF_READY])
    (message_id,) = publish(client_id=tenant_a.client.pk, event_type=EventType.PROOF_READY, data={})
    dns({"hooks.example.com": "127.0.0.1"})  # rebinding to ourselves
    attempt = deliver(message_id=message_id)
    assert not attempt.succeeded and attempt.status_code is None
    assert attempt.error.startswith("Refused: The host hooks.example.com resolves to 127.0.0.1, a loopback address")
    assert WebhookMessage.objects.get(pk=message_id).status == MessageStatus.PENDING  # retried later, like any failure
    assert WebhookDelivery.objects.count() == 1


def test_http_is_refused_in_production_settings(tenant_a, production_like, dns):
    dns({"hooks.example.com": "93.184.216.34"})
    with pytest.raises(ValidationError, match="must start with https://"):
        create_endpoint(client=tenant_a.client, url="http://hooks.example.com/x", event_types=[EventType.PROOF_READY])


def test_production_never_allows_plain_http_or_private_networks_whatever_the_environment_says():
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps([settings.WEBHOOKS_ALLOW_HTTP, settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS]))")
    production = {"MOBUL_ENV": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.com",
                  "GIFT_CARD_ENCRYPTION_KEYS": "k", "GIFT_CARD_HASH_KEY": "h"}

    def flags(**environment):
        result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                env={**os.environ, "DJANGO_SETTINGS_MODULE": "mobul.settings", **environment})
        return json.loads(result.stdout)

    asked = {"WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true"}
    assert flags(**asked) == [True, True]  # development: a receiver on this machine
    assert flags(**production, **asked) == [False, False]
