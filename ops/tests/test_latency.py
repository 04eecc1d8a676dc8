"""The latency middleware's figures against requests of known duration and status, counted in the real Redis."""

import pytest

from ops import latency

pytestmark = pytest.mark.urls("ops.tests.urls")
ENDPOINT = "GET /test/timed/{ms}/"


def test_known_requests_give_known_figures(client):
    # 18 quick requests, one of 120 ms and one of 320 ms, two server errors among the quick ones.
    for _ in range(16):
        client.get("/test/timed/0/")
    for _ in range(2):
        client.get("/test/timed/0/?status=503")
    client.get("/test/timed/120/")
    client.get("/test/timed/320/")

    stats = latency.recent(60)[ENDPOINT]

    assert (stats.count, stats.errors, stats.error_rate_percent) == (20, 2, 10.0)
    assert stats.buckets[latency.bucket_index(120)] == 1 and stats.buckets[latency.bucket_index(320)] == 1
    # A quick request takes a few ms; on a loaded machine maybe a few tens.
    assert sum(stats.buckets[:latency.bucket_index(50) + 1]) == 18
    assert stats.p50 <= 50  # rank 10 of 20: a quick one
    assert 100 < stats.p95 <= 200  # rank 19: the 120 ms request, within its 100-200 ms bucket
    assert 300 < stats.p99 <= 500  # rank 19.8: the 320 ms one
    assert 440 <= stats.sum_ms < 1000


def test_routes_are_labelled_by_pattern_not_by_url(client, key_client):
    client.get("/test/timed/0/")
    client.get("/test/timed/1/")
    key_client.get("/api/v1/campaigns/")
    key_client.get("/api/v1/campaigns/999999/")
    client.get("/no/such/page/")

    stats = latency.recent(60)
    assert stats[ENDPOINT].count == 2
    assert stats["GET /api/v1/campaigns/"].count == 1
    assert stats["GET /api/v1/campaigns/{pk}/"].count == 1
    assert stats[latency.UNMATCHED].count == 1


def test_minutes_outside_the_window_are_left_out():
    latency.record("GET /x", 50, error=False, now=1_000_000 * 60)
    latency.record("GET /x", 50, error=True, now=1_000_059 * 60)

    assert latency.recent(60, now=1_000_059 * 60 + 30)["GET /x"].count == 2
    assert latency.recent(60, now=1_000_060 * 60)["GET /x"].count == 1
    # The totals only grow, for /metrics.
    assert latency.totals()["GET /x"].count == 2 and latency.totals()["GET /x"].errors == 1


def test_a_redis_failure_costs_the_figure_not_the_response(client, settings, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(latency, "redis", broken)
    assert client.get("/test/timed/0/").status_code == 200
