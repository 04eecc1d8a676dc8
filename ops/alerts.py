"""The minute alert check: each metric against its threshold (settings.ALERT_THRESHOLDS), an Alert opened once
per crossing and resolved when the value is back under, staff emailed both times.

| metric           | value                                                          | default threshold |
|------------------|----------------------------------------------------------------|-------------------|
| database_size    | database size, % of settings.DATABASE_CAPACITY_BYTES           | 80 %              |
| connection_pool  | server connections, % of max_connections                       | 90 %              |
| api_latency_p95  | p95 over the last ALERT_WINDOW_MINUTES, in ms                  | 500 ms            |
| error_rate       | 5xx share over the same window, in %                           | 1 %               |
| delivery_backlog | minutes since the oldest claimed card not yet sent was claimed | 30 min            |
Latency and error rate are only judged once ALERT_MIN_REQUESTS requests were seen in the window: two slow
requests at night are not an incident. A metric that cannot be judged leaves its alert as it is.

Gift-card pools (10 % left by default, per pool) alert through giftcards' own PoolAlert, which also emails the
client's admins: this check re-runs the pool check for every pool whose level and open alert disagree, so a
crossing no claim noticed (cards voided, codes uploaded) is caught within a minute.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from giftcards.models import PoolAlert
from giftcards.selectors import undelivered_minutes
from giftcards.services import check_pool_level

from . import latency, monitoring
from .models import Alert, AlertMetric

logger = logging.getLogger(__name__)

THRESHOLD_SETTING = {
    AlertMetric.DATABASE_SIZE: "database_size_percent",
    AlertMetric.CONNECTION_POOL: "connection_pool_percent",
    AlertMetric.API_LATENCY_P95: "api_latency_p95_ms",
    AlertMetric.ERROR_RATE: "error_rate_percent",
    AlertMetric.DELIVERY_BACKLOG: "delivery_backlog_minutes",
}
UNITS = {AlertMetric.API_LATENCY_P95: " ms", AlertMetric.DELIVERY_BACKLOG: " min"}


def threshold(metric):
    return float(settings.ALERT_THRESHOLDS[THRESHOLD_SETTING[metric]])


def current_values():
    """{metric: value, or None when it cannot be judged now}."""
    capacity = settings.DATABASE_CAPACITY_BYTES
    recent = latency.overall(latency.recent(settings.ALERT_WINDOW_MINUTES))
    enough = recent.count >= settings.ALERT_MIN_REQUESTS
    return {
        AlertMetric.DATABASE_SIZE: 100 * monitoring.database_size() / capacity if capacity else None,
        AlertMetric.CONNECTION_POOL: monitoring.connection_use()["percent"],
        AlertMetric.API_LATENCY_P95: recent.percentile(95) if enough else None,
        AlertMetric.ERROR_RATE: recent.error_rate_percent if enough else None,
        AlertMetric.DELIVERY_BACKLOG: undelivered_minutes(),
    }


def check_alerts():
    """Judges every metric and every gift-card pool; returns the alerts opened and resolved by this check."""
    changes = {"opened": [], "resolved": []}
    for metric, value in current_values().items():
        if value is None:
            continue
        change, alert = judge(metric, value)
        if change:
            changes[change].append(alert)
    check_pools()
    return changes


def judge(metric, value):
    """Opens, updates or resolves `metric`'s alert for `value`. Returns ("opened" | "resolved" | None, alert)."""
    limit = threshold(metric)
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(metric=metric, resolved_at__isnull=True).first()
        if value >= limit and alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(metric=metric, value=value, peak_value=value, threshold=limit,
                                                 message=_message(metric, value, limit))
            except IntegrityError:
                return None, None  # a concurrent check opened it first
            transaction.on_commit(lambda: _notify(alert))
            return "opened", alert
        if value >= limit:
            if value > alert.peak_value:
                Alert.objects.filter(pk=alert.pk).update(peak_value=value)
            return None, alert
        if alert is not None:
            alert.resolved_at, alert.resolved_value = timezone.now(), value
            alert.save(update_fields=["resolved_at", "resolved_value"])
            transaction.on_commit(lambda: _notify(alert))
            return "resolved", alert
    return None, None


def check_pools():
    open_pools = set(PoolAlert.objects.filter(resolved_at__isnull=True).values_list("pool_id", flat=True))
    for level in monitoring.pool_levels():
        if level["low"] != (level["pool"].pk in open_pools):
            check_pool_level(pool_id=level["pool"].pk)


def _message(metric, value, limit):
    unit = UNITS.get(metric, " %")
    return f"{AlertMetric(metric).label}: {value:.1f}{unit}, threshold {limit:g}{unit}."


def staff_emails():
    return list(User.objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True))


def _notify(alert):
    recipients = staff_emails()
    if not recipients:
        return
    unit = UNITS.get(alert.metric, " %")
    if alert.resolved_at is None:
        subject = f"[Mobul alert] {alert.get_metric_display()}"
        body = f"{alert.message}\nOpened at {alert.opened_at:%Y-%m-%d %H:%M} UTC. It resolves itself on recovery."
    else:
        subject = f"[Mobul resolved] {alert.get_metric_display()}"
        body = (f"Back to {alert.resolved_value:.1f}{unit} (threshold {alert.threshold:g}{unit}; worst "
                f"{alert.peak_value:.1f}{unit}). Open from {alert.opened_at:%Y-%m-%d %H:%M} to "
                f"{alert.resolved_at:%Y-%m-%d %H:%M} UTC.")
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except OSError:
        # The alert stays on the monitoring page and in /metrics; the next check must not fail for the mail server.
        logger.exception("Could not email staff about %s", alert)
