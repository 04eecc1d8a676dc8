"""The rate limiter's counters in the real Redis: every key of a request counted in one call, windows that end."""

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from mobul.ratelimit import count_requests, parse_rate


@pytest.mark.parametrize(("rate", "parsed"), [("10/m", (10, 60)), ("5/10s", (5, 10)), ("100/h", (100, 3600)),
                                              ("1/d", (1, 86400))])
def test_rates_read_as_requests_per_seconds(rate, parsed):
    assert parse_rate(rate) == parsed


def test_each_key_counts_up_and_expires_with_its_own_window():
    redis = get_redis_connection("default")
    ip_key, token_key = cache.make_key("ratelimit:test-ip"), cache.make_key("ratelimit:test-token")
    redis.delete(ip_key, token_key)
    assert count_requests([(ip_key, 30), (token_key, 50)]) == [1, 1]
    assert count_requests([(ip_key, 30), (token_key, 50)]) == [2, 2]
    assert 0 < redis.ttl(ip_key) <= 30 and 30 < redis.ttl(token_key) <= 50
    # A later count never pushes the window's end back.
    redis.expire(ip_key, 5)
    assert count_requests([(ip_key, 30)]) == [3]
    assert redis.ttl(ip_key) <= 5
