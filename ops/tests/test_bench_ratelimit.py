"""bench.ratelimit's measurements at a tiny size, against the real PostgreSQL and Redis, so that they cannot rot.

What is checked is what the benchmark does (its rows, keys and counters), never how long it takes.
"""

import pytest
from django.core.cache import cache
from django.db import connection

from bench import ratelimit as bench
from giftcards.choices import CLAIMED_STATUSES
from giftcards.models import GiftCard

# VACUUM and the old check's own transactions need autocommit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rate_limits_table():
    bench.drop_table()
    bench.create_table()
    yield
    bench.drop_table()


def _rows_of(key):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM rate_limits WHERE key = %s", [key])
        return cursor.fetchone()[0]


def test_load_spells_keys_as_the_checks_do_and_the_old_check_refuses_past_the_limit(rate_limits_table):
    bench.grow_to(1_000)
    assert bench.logged_rows() == 1_000
    ip, token = bench.key_pair(7)
    ip_key, token_key = f"redemption:ip:{ip}", f"redemption:token:{token}"
    # Rows 14 and 15 log pair 7's IP and token.
    assert (_rows_of(ip_key), _rows_of(token_key)) == (1, 1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rate_limits SET created_at = now() - interval '1 day' WHERE key = %s", [ip_key])

    allowed, window = bench.rate()
    with connection.connection.cursor() as cursor:
        assert all(bench.old_check(cursor, ip_key, allowed, window) for _ in range(allowed))
        assert not bench.old_check(cursor, ip_key, allowed, window)
    # History outside the window does not count; a refused check logs nothing.
    assert _rows_of(ip_key) == 1 + allowed

    bench.grow_to(500)
    assert bench.logged_rows() == 500


def _counters(prefix):
    """{key: count} of the Redis counters named `prefix`*: django-ratelimit's (rl:) or the previous limiter's."""
    return {key: cache.get(key) for key in cache.keys(f"{prefix}*")}


def test_each_measurement_checks_both_keys_for_real(rate_limits_table):
    allowed, _ = bench.rate()
    pairs = bench.run_keys([3, 4], checks=allowed, hits_per_key=allowed // 2)
    assert sorted(pairs) == [3] * (allowed // 2) + [4] * (allowed // 2)

    assert len(bench.measure("old", pairs)) == allowed
    ip, token = bench.key_pair(3)
    assert (_rows_of(f"redemption:ip:{ip}"), _rows_of(f"redemption:token:{token}")) == (allowed // 2, allowed // 2)
    for name, prefix in (("project", "rl:"), ("lua", "ratelimit:")):
        assert len(bench.measure(name, pairs)) == allowed
        # Two pairs, two keys each, each key counted at every check of its pair; apart from the other's counters.
        assert sorted(_counters(prefix).values()) == [allowed // 2] * 4

    # All counted every check: the next round reaches the limit and the one after is refused.
    for name in bench.CHECKS:
        bench.measure(name, pairs)
    for name in bench.CHECKS:
        with pytest.raises(SystemExit, match="refused pair 3"):
            bench.measure(name, pairs)


def test_a_run_measures_every_size_and_leaves_no_table(capsys):
    sizes = bench.run([1_000, 0], checks=10, hits_per_key=5, repeat=2)

    assert [size["rows"] for size in sizes] == [0, 1_000]
    for size in sizes:
        for name in bench.CHECKS:
            assert size[name]["checks"] == 20
            assert len(size[name]["run_medians_ms"]) == 2
            assert 0 < size[name]["median_ms"] <= size[name]["p95_ms"]
        assert size["project_vs_lua"] == size["project"]["median_ms"] / size["lua"]["median_ms"]
        assert size["old_vs_project"] == size["old"]["median_ms"] / size["project"]["median_ms"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('rate_limits')")
        assert cursor.fetchone()[0] is None

    bench.report({"checks": 10, "hits_per_key": 5, "repeat": 2, "sizes": sizes})
    printed = capsys.readouterr().out
    assert "1,000 rows, run 2/2" in printed
    assert "proj/lua med" in printed and "old/proj med" in printed
    rows = bench.report_rows({"sizes": sizes})
    assert [row["floor_name"] for row in rows] == ["the previous Lua check", "the old count-then-insert check"] * 2


def test_a_run_refuses_checks_that_would_be_limited():
    allowed, _ = bench.rate()
    with pytest.raises(SystemExit, match="--hits-per-key"):
        bench.run([0], checks=allowed + 1, hits_per_key=allowed + 1, repeat=1)


def test_redemption_requests_are_measured_with_and_without_the_check(mailoutbox):
    figures = bench.measure_redemptions(requests=2, repeat=1)

    for name in ("with_check", "without_check"):
        assert figures[name]["checks"] == 2
    assert figures["added_median_ms"] == figures["with_check"]["median_ms"] - figures["without_check"]["median_ms"]
    # Every request claimed a card: two runs and the warm-up, with and without the check.
    assert GiftCard.objects.filter(status__in=CLAIMED_STATUSES).count() == 8
    # Only the requests with the check were counted: an IP and a token each.
    assert len(cache.keys("rl:*")) == 2 * 4
