import pytest

from webhooks.choices import EventType
from webhooks.services import create_endpoint

from .receivers import start_receiver


@pytest.fixture
def local_network(settings):
    """Deliveries to this machine allowed, as for a developer's receiver (SSRF tests leave this off)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOKS_ALLOW_HTTP = True
    return settings


@pytest.fixture
def receiver(local_network):
    server = start_receiver()
    yield server
    server.stop()


@pytest.fixture
def endpoint_for(local_network):
    """endpoint_for(client, url, event_types=all) -> (endpoint, secret)."""

    def make(client, url, event_types=tuple(EventType.values), **fields):
        return create_endpoint(client=client, url=url, event_types=event_types, **fields)

    return make
