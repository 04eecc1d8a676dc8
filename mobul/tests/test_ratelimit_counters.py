"""The rate limiter's counters, kept by django-ratelimit in the real Redis: one per key and window, each window
ending on its own, and Redis unreachable handled as each group's policy says."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory, override_settings

from mobul.ratelimit import LimiterUnavailable, RateLimited, limit
from ops.tests.test_health import UNREACHABLE_CACHE


@pytest.fixture
def three_per_minute(settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "redemption": "3/m"}


def _request(ip="10.0.0.1"):
    return RequestFactory().post("/api/v1/redeem/", REMOTE_ADDR=ip)


def _counters():
    """{key: (count, seconds to expiry)} of every rate-limit counter in Redis."""
    return {key: (cache.get(key), cache.ttl(key)) for key in cache.keys("rl:*")}


def test_each_key_has_a_counter_that_expires_after_its_window(three_per_minute):
    usage = limit(_request(), "redemption", keys={"ip": None, "token": "token-a"})

    assert usage["limit"] == 3 and usage["remaining"] == 2 and 0 <= usage["reset"] <= 60
    counters = _counters()
    assert len(counters) == 2
    for count, ttl in counters.values():
        assert count == 1 and 0 < ttl <= 60 + 5

    limit(_request(), "redemption", keys={"ip": None, "token": "token-b"})
    # The IP counted twice, each token once.
    assert sorted(count for count, _ in _counters().values()) == [1, 1, 2]


def test_a_request_is_refused_while_any_of_its_keys_is_over_and_says_until_when(three_per_minute):
    for token in ("token-a", "token-b", "token-c"):
        limit(_request(), "redemption", keys={"ip": None, "token": token})
    request = _request()
    with pytest.raises(RateLimited) as refused:
        limit(request, "redemption", keys={"ip": None, "token": "token-d"})

    wait = refused.value.retry_after
    assert 1 <= wait <= 60
    assert request.ratelimit_usage == {"limit": 3, "remaining": 0, "reset": wait}
    # Another address may still claim the fresh token, but not the IP's used ones past their limit.
    assert limit(_request("10.0.0.2"), "redemption", keys={"ip": None, "token": "token-e"})["remaining"] == 2


def test_without_redis_a_check_passes_or_is_refused_as_its_caller_says():
    with override_settings(CACHES=UNREACHABLE_CACHE):
        assert limit(_request(), "api", keys={"principal": "key:1"}, fail_open=True) is None
        with pytest.raises(LimiterUnavailable):
            limit(_request(), "api", keys={"principal": "key:1"}, fail_open=False)
