"""`/metrics` in Prometheus text format, built per scrape from what the monitoring page reads: request latency
histograms and error counts per endpoint (all web processes, via Redis), Celery queue lengths, gift-card pool
levels, alert states and database figures."""

import ipaddress
import logging
import math
import secrets

from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from giftcards.models import PoolAlert
from mobul.http import client_ip

from . import latency, monitoring
from .models import Alert, AlertMetric

logger = logging.getLogger(__name__)


def allowed(request):
    """A matching bearer token, or a caller inside METRICS_ALLOWED_IPS."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and secrets.compare_digest(header[7:].strip(), token):
        return True
    try:
        ip = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(ip in network for network in _allowed_networks())


def _allowed_networks():
    networks = []
    for cidr in settings.METRICS_ALLOWED_IPS:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            logger.error("METRICS_ALLOWED_IPS: %r is not an address or CIDR; ignored", cidr)
    return networks


class MobulCollector:
    def collect(self):
        yield from self._requests()
        yield from self._queues()
        yield from self._pools()
        yield from self._alerts()
        yield from self._database()

    def _requests(self):
        histogram = HistogramMetricFamily("mobul_http_request_duration_seconds",
                                          "Time to answer a request, per endpoint.", labels=["endpoint"])
        errors = CounterMetricFamily("mobul_http_request_errors", "Requests answered with a 5xx, per endpoint.",
                                     labels=["endpoint"])
        for endpoint, stats in sorted(latency.totals().items()):
            cumulative, buckets = 0, []
            for bound, count in zip(latency.BUCKETS_MS, stats.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if math.isinf(bound) else repr(bound / 1000), cumulative))
            histogram.add_metric([endpoint], buckets, sum_value=stats.sum_ms / 1000)
            errors.add_metric([endpoint], stats.errors)
        yield histogram
        yield errors

    def _queues(self):
        gauge = GaugeMetricFamily("mobul_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        for name, length in monitoring.queue_lengths().items():
            gauge.add_metric([name], length)
        yield gauge

    def _pools(self):
        available = GaugeMetricFamily("mobul_gift_card_pool_available", "Cards free to assign or claim.",
                                      labels=["client", "pool"])
        total = GaugeMetricFamily("mobul_gift_card_pool_cards", "Cards in the pool (void and expired ones aside).",
                                  labels=["client", "pool"])
        for level in monitoring.pool_levels():
            labels = [level["pool"].client.slug, str(level["pool"].pk)]
            available.add_metric(labels, level["available"])
            total.add_metric(labels, level["total"])
        yield available
        yield total

    def _alerts(self):
        gauge = GaugeMetricFamily("mobul_alert_open", "1 while the metric's alert is open.", labels=["metric"])
        open_metrics = set(Alert.objects.filter(resolved_at__isnull=True).values_list("metric", flat=True))
        for metric in AlertMetric.values:
            gauge.add_metric([metric], int(metric in open_metrics))
        yield gauge
        yield GaugeMetricFamily("mobul_gift_card_pool_alerts_open", "Gift-card pools below their low-stock threshold.",
                                value=PoolAlert.objects.filter(resolved_at__isnull=True).count())

    def _database(self):
        yield GaugeMetricFamily("mobul_database_size_bytes", "Size of the database.", value=monitoring.database_size())
        connections = monitoring.connection_use()
        yield GaugeMetricFamily("mobul_database_connections", "Server connections in use.", value=connections["in_use"])
        yield GaugeMetricFamily("mobul_database_max_connections", "PostgreSQL max_connections.",
                                value=connections["max_connections"])


def render():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MobulCollector())
    return generate_latest(registry)
