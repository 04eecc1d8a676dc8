"""The minute alert check: an alert opens once per crossing, resolves on recovery, and staff hear both."""

import pytest
from django.core import mail

from giftcards.models import GiftCard, PoolAlert
from giftcards.tests.factories import GiftCardPoolFactory, stock
from ops import latency, monitoring
from ops.alerts import check_alerts
from ops.models import Alert
from ops.tasks import check_alerts as check_alerts_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(platform_admin):
    platform_admin.is_staff = True
    platform_admin.save()
    return platform_admin


def thresholds(settings, **changes):
    settings.ALERT_THRESHOLDS = {**settings.ALERT_THRESHOLDS, **changes}


def test_connection_use_alert_opens_once_and_resolves_on_recovery(settings, staff, django_capture_on_commit_callbacks):
    in_use = monitoring.connection_use()["percent"]
    thresholds(settings, connection_pool_percent=in_use / 2)  # the real value is now over the threshold

    with django_capture_on_commit_callbacks(execute=True):
        changes = check_alerts()
    (alert,) = changes["opened"]
    assert alert.metric == "connection_pool" and alert.is_open and alert.value >= in_use / 2
    assert [message.to for message in mail.outbox] == [[staff.email]]
    assert mail.outbox[0].subject == "[Mobul alert] Connections (% of max_connections)"

    # Still over: the same alert stays open, nobody is emailed again.
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts() == {"opened": [], "resolved": []}
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1

    thresholds(settings, connection_pool_percent=100)
    with django_capture_on_commit_callbacks(execute=True):
        changes = check_alerts()
    assert changes["resolved"] == [alert]
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolved_value < 100
    assert mail.outbox[1].subject.startswith("[Mobul resolved]")

    # A new crossing is a new alert.
    thresholds(settings, connection_pool_percent=0)
    with django_capture_on_commit_callbacks(execute=True):
        check_alerts_task.delay()
    assert Alert.objects.count() == 2 and Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_database_size_is_judged_against_the_configured_capacity(settings):
    size = monitoring.database_size()
    settings.DATABASE_CAPACITY_BYTES = 0
    assert not check_alerts()["opened"]  # no capacity configured: not judged
    settings.DATABASE_CAPACITY_BYTES = int(size / 0.85)  # 85 % used
    (alert,) = check_alerts()["opened"]
    assert alert.metric == "database_size" and 84 < alert.value < 86 and alert.threshold == 80


def test_latency_and_errors_are_judged_once_enough_requests_were_seen(settings):
    settings.ALERT_MIN_REQUESTS = 20
    for _ in range(10):
        latency.record("GET /api/v1/campaigns/", 900, error=True)
    assert not check_alerts()["opened"]  # 10 requests: too few to judge

    for _ in range(10):
        latency.record("GET /api/v1/campaigns/", 900, error=False)
    for _ in range(100):
        latency.record("GET /metrics", 1, error=False)  # probes do not dilute the figures
    opened = {alert.metric: alert for alert in check_alerts()["opened"]}
    assert set(opened) == {"api_latency_p95", "error_rate"}
    assert 750 < opened["api_latency_p95"].value <= 1000 and opened["error_rate"].value == 50


def test_a_pool_crossing_no_claim_noticed_is_caught_by_the_minute_check(tenant_a, staff,
                                                                         django_capture_on_commit_callbacks):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 20)
    # Claimed straight in the table (as a bulk fix-up might): no claim path, so no stock check ran.
    GiftCard.objects.filter(pk__in=GiftCard.objects.filter(pool=pool).values("pk")[:19]).update(status="claimed")
    with django_capture_on_commit_callbacks(execute=True):
        check_alerts()
    alert = PoolAlert.objects.get(pool=pool, resolved_at__isnull=True)
    assert (alert.available, alert.total) == (1, 20)
    assert {tuple(message.to) for message in mail.outbox} == {(tenant_a.admin.email,), (staff.email,)}
    with django_capture_on_commit_callbacks(execute=True):
        check_alerts()
    assert PoolAlert.objects.filter(pool=pool).count() == 1 and len(mail.outbox) == 2

    stock(pool, 10, prefix="MORE")
    check_alerts()
    alert.refresh_from_db()
    assert alert.resolved_at is not None
