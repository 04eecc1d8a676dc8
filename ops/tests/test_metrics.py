"""/metrics: Prometheus text format, behind a token or an address allow-list."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from giftcards.tests.factories import GiftCardPoolFactory, stock
from mobul.celery import app as celery_app
from ops.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"
    settings.METRICS_ALLOWED_IPS = []

    def get():
        response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests"})
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=")
        return {sample.name + str(sorted(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(response.content.decode()) for sample in family.samples}

    return get


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_requests_errors_queues_pools_and_alerts_are_exported(scrape, key_client, tenant_a):
    key_client.get("/api/v1/campaigns/")
    key_client.get("/api/v1/campaigns/")
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    Alert.objects.create(metric="error_rate", value=5, peak_value=5, threshold=1, message="x")
    # The task's own queue on the real broker (the test run's broker database), emptied first and after.
    queue = "monitoring"
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    celery_app.send_task("ops.tasks.snapshot_database_size")  # really queued, never run here
    try:
        samples = scrape()
    finally:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)

    endpoint = [("endpoint", "GET /api/v1/campaigns/")]
    assert samples["mobul_http_request_duration_seconds_count" + str(endpoint)] == 2
    assert samples["mobul_http_request_duration_seconds_bucket" + str([*endpoint, ("le", "+Inf")])] == 2
    assert samples["mobul_http_request_duration_seconds_sum" + str(endpoint)] > 0
    assert samples["mobul_http_request_errors_total" + str(endpoint)] == 0
    assert samples["mobul_celery_queue_length" + str([("queue", queue)])] == 1
    pool_labels = str([("client", tenant_a.client.slug), ("pool", str(pool.pk))])
    assert samples["mobul_gift_card_pool_available" + pool_labels] == 3
    assert samples["mobul_gift_card_pool_cards" + pool_labels] == 3
    assert samples["mobul_alert_open" + str([("metric", "error_rate")])] == 1
    assert samples["mobul_alert_open" + str([("metric", "api_latency_p95")])] == 0
    assert samples["mobul_database_size_bytes[]"] > 0


def test_without_token_or_allowed_address_metrics_are_refused(client, settings):
    settings.METRICS_TOKEN = "right-token"
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer right-token"}).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # A forged X-Forwarded-For from an untrusted peer changes nothing.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_no_token_configured_means_no_token_accepted(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403
