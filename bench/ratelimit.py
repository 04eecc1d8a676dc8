"""Rate-limit benchmark, on its own database (`mobul_bench_ratelimit`) and Redis database in one run:

(a) the project's check on the redemption path: mobul.ratelimit.limit(request, "redemption", keys={ip, token}),
    as giftcards.api.views.RedeemView calls it: django-ratelimit's get_usage() per key on the Redis cache (an
    add, then an increment once the counter exists);
(b) the previous check, the hand-written Lua limiter that (a) replaced, kept in this file only as the comparison:
    both keys counted by one Lua script call (INCR, EXPIRE when new), one round trip;
(c) the old platform's check: for each of the same two keys, count its rows in a `rate_limits` table within the
    window, then insert a row; measured with 0, 1 M and 10 M rows already logged;
(d) for scale, a whole redemption request (POST /api/v1/redeem/ through the Django stack, a free card claimed)
    with the project's check and without it (RATELIMIT_ENABLE off), alternating.

The old check is the seed's, made correct: the count and the insert run in one transaction under an advisory lock
on the key (otherwise two racing requests both see 9 and both pass), the window is computed on the database's clock,
and the count is count(*) on the index (key, created_at) rather than fetching rows. It gets a direct connection,
where the old platform went through a REST call per statement: its figures are a lower bound.

A check is one redemption request's: both keys. Each key is checked --hits-per-key times a run (round robin, below
the limit, so no check is refused and each does its full work): the first check of a key creates its counter, the
others find it. Logged rows are spread over the last 30 days across a million keys; the checked keys are among
them, so at 10 M rows each already has 10 rows of history. The three checks alternate check by check at each size
(the machine is shared and noisy); the medians of all their checks are compared. The added latency of a check is
the time of the call itself. (a) and (b) do not depend on the table's size: each size measures them again.

Redemptions queue Celery tasks when they commit; here they go to a broker database of this benchmark's own, which
no worker reads and which is emptied after.

    python -m bench.ratelimit [--rows 0,1000000,10000000] [--checks 500] [--hits-per-key 5] [--repeat 5]
                              [--requests 200]
"""

import argparse
import hashlib
import os
import random
import statistics
import time
import warnings
import zlib
from contextlib import contextmanager

import redis
from django.conf import settings

from bench import common

DATABASE, CACHE_DB, BROKER_DB = "mobul_bench_ratelimit", 8, 9  # apart from the other benchmarks' and the suite's
# Under the test suite, which runs these functions against its own database and cache, Django is set up already.
if not settings.configured:
    common.setup_django(DATABASE, redis_db=CACHE_DB, broker_db=BROKER_DB)
    # Benchmarks do not collect static files; WhiteNoise would say so on the first request.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)

from django.core.cache import cache  # noqa: E402  (the settings must be set up first)
from django.db import connection  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from analytics.partitions import ensure_partitions  # noqa: E402
from campaigns.choices import CampaignStatus  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from mobul.http import client_ip  # noqa: E402
from mobul.ratelimit import RateLimited, limit  # noqa: E402
from mobul.redis_scripts import registered_script  # noqa: E402

SEED = 2026
GROUP = "redemption"
# Distinct keys the logged rows are spread over: half client IPs, half redemption tokens, one pair per number.
KEY_SPACE = 1_000_000
HISTORY_DAYS = 30
REDEEM_PATH = "/api/v1/redeem/"

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS rate_limits (key text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
"""
INDEX_SQL = "CREATE INDEX IF NOT EXISTS rate_limits_key_created_at ON rate_limits (key, created_at)"
# Row n logs key n mod KEY_SPACE: even keys are IPs, odd keys tokens, of pair (key / 2), as key_pair() spells them.
LOAD_SQL = """
INSERT INTO rate_limits (key, created_at)
SELECT CASE WHEN n %% 2 = 0
            THEN 'redemption:ip:10.' || ((pair >> 16) & 255) || '.' || ((pair >> 8) & 255) || '.' || (pair & 255)
            ELSE 'redemption:token:' || left(md5('bench-token-' || pair), 22) END,
       now() - random() * make_interval(days => %(days)s)
FROM generate_series(%(first)s, %(last)s) AS n, LATERAL (SELECT (n %% %(keys)s) / 2 AS pair) AS numbered
"""
# The old check, per key, in one transaction.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
COUNT_SQL = "SELECT count(*) FROM rate_limits WHERE key = %s AND created_at >= now() - make_interval(secs => %s)"
INSERT_SQL = "INSERT INTO rate_limits (key, created_at) VALUES (%s, now())"
CHECKS = ("project", "lua", "old")

# --- (b) The previous limiter: mobul.ratelimit as it was before django-ratelimit, only for the comparison. ---
PREVIOUS_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PREVIOUS_EXPIRY_MARGIN_SECONDS = 2
PREVIOUS_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


def parse_rate(rate):
    """(requests, seconds) of a rate such as "10/m" or "5/10s"."""
    count, _, period = rate.partition("/")
    return int(count), int(period[:-1] or 1) * PREVIOUS_PERIODS[period[-1]]


def previous_lua_limit(request, group, *, keys):
    """The previous limiter's check: True when every key is under `group`'s rate. Its counters are
    "ratelimit:<md5>" (the project's are django-ratelimit's "rl:<sha256>"), all counted in one script call."""
    rate = settings.RATELIMITS[group]
    allowed, period = parse_rate(rate)
    now = int(time.time())
    counters, ttls = [], []
    for name, value in keys.items():
        identity = client_ip(request) if value is None else str(value)
        end = now - now % period + zlib.crc32(identity.encode()) % period
        end = end if end >= now else end + period
        digest = hashlib.md5(f"{group}:{name}:{rate}:{identity}:{end}".encode(), usedforsecurity=False).hexdigest()
        counters.append(cache.make_key(f"ratelimit:{digest}"))
        ttls.append(end - now + PREVIOUS_EXPIRY_MARGIN_SECONDS)
    counts = registered_script(get_redis_connection("default"), PREVIOUS_COUNT_SCRIPT)(keys=counters, args=ttls)
    return all(count <= allowed for count in counts)


def key_pair(number):
    """The client IP and redemption token of pair `number`, the same values LOAD_SQL logs."""
    ip = f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
    token = hashlib.md5(f"bench-token-{number}".encode()).hexdigest()[:22]
    return ip, token


def rate():
    """(requests allowed, window in seconds) of the redemption limit in settings."""
    return parse_rate(settings.RATELIMITS[GROUP])


def run_keys(pairs, checks, hits_per_key):
    """The pair numbers of one run's checks: checks / hits_per_key pairs, each checked hits_per_key times in turn."""
    return [pairs[index % (checks // hits_per_key)] for index in range(checks)]


def create_table():
    with connection.cursor() as cursor:
        cursor.execute(CREATE_SQL)
        cursor.execute(INDEX_SQL)


def drop_table():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS rate_limits")


def logged_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM rate_limits")
        return cursor.fetchone()[0]


def grow_to(rows):
    """Logs rows until the table holds `rows` (from empty when it holds more), then vacuums and analyses it.

    Without its index during the load: building it once is faster than updating it row by row.
    """
    present = logged_rows()
    with connection.cursor() as cursor:
        if present > rows:
            cursor.execute("TRUNCATE rate_limits")
            present = 0
        if present < rows:
            cursor.execute("DROP INDEX rate_limits_key_created_at")
            cursor.execute(LOAD_SQL, {"first": present + 1, "last": rows, "keys": KEY_SPACE, "days": HISTORY_DAYS})
            cursor.execute(INDEX_SQL)
        cursor.execute("VACUUM ANALYZE rate_limits")
        # The load's WAL is written out now, not during the measurement.
        cursor.execute("CHECKPOINT")


def old_check(cursor, key, allowed, window):
    """The old platform's check of one key: True if it is allowed (and then logged)."""
    with cursor.connection.transaction():
        cursor.execute(LOCK_SQL, [key])
        cursor.execute(COUNT_SQL, [key, window])
        if cursor.fetchone()[0] >= allowed:
            return False
        cursor.execute(INSERT_SQL, [key])
        return True


def check_old(cursor, number, allowed, window):
    """(b) for pair `number`, both keys: its seconds. Exits if refused: a measured check must do its full work."""
    ip, token = key_pair(number)
    start = time.perf_counter()
    passed = (old_check(cursor, f"{GROUP}:ip:{ip}", allowed, window)
              and old_check(cursor, f"{GROUP}:token:{token}", allowed, window))
    seconds = time.perf_counter() - start
    if not passed:
        raise SystemExit(f"The old check refused pair {number}: a check must do its full work.")
    return seconds


def check_project(factory, number):
    """(a) for pair `number`, as RedeemView calls limit(), the request built beforehand: its seconds."""
    ip, token = key_pair(number)
    request = factory.post(REDEEM_PATH, REMOTE_ADDR=ip)
    start = time.perf_counter()
    try:
        limit(request, GROUP, keys={"ip": None, "token": token})
    except RateLimited:
        raise SystemExit(f"limit() refused pair {number}: a check must do its full work.") from None
    return time.perf_counter() - start


def check_lua(factory, number):
    """(b) for pair `number`, the previous limiter's check with the same keys: its seconds."""
    ip, token = key_pair(number)
    request = factory.post(REDEEM_PATH, REMOTE_ADDR=ip)
    start = time.perf_counter()
    passed = previous_lua_limit(request, GROUP, keys={"ip": None, "token": token})
    seconds = time.perf_counter() - start
    if not passed:
        raise SystemExit(f"The previous Lua check refused pair {number}: a check must do its full work.")
    return seconds


@contextmanager
def checkers():
    """name → a function timing one check of a pair number; the old one on the psycopg connection under Django's."""
    allowed, window = rate()
    factory = RequestFactory()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        yield {"project": lambda number: check_project(factory, number),
               "lua": lambda number: check_lua(factory, number),
               "old": lambda number: check_old(cursor, number, allowed, window)}


def measure(name, pairs):
    """The seconds of check `name` on each of `pairs`."""
    with checkers() as check:
        return [check[name](number) for number in pairs]


def _summary(seconds):
    return {"checks": len(seconds), "median_ms": statistics.median(seconds) * 1000,
            "p95_ms": common.percentile(seconds, 95) * 1000}


def sizes_mb():
    """(table, index) on disk, in MB."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_table_size('rate_limits'), pg_relation_size('rate_limits_key_created_at')")
        return tuple(size / 2 ** 20 for size in cursor.fetchone())


def measure_size(rows, pairs, checks, hits_per_key, repeat):
    """The three checks with `rows` logged, for `repeat` runs, each check on keys of its own.

    They alternate check by check (which goes first rotates run by run), so that the machine's noise hits all alike.
    """
    grow_to(rows)
    table_mb, index_mb = sizes_mb()
    per_run = checks // hits_per_key
    samples, run_medians = {name: [] for name in CHECKS}, {name: [] for name in CHECKS}
    with checkers() as check:
        for run in range(repeat):
            first = len(CHECKS) * run * per_run
            keys = {name: run_keys(pairs[first + index * per_run:first + (index + 1) * per_run], checks, hits_per_key)
                    for index, name in enumerate(CHECKS)}
            # Same state for every run: the Redis counters gone, the old table at `rows` (what a run adds is
            # noise at 1 M rows, not at 0).
            cache.clear()
            if rows == 0:
                grow_to(0)
            order = CHECKS[run % len(CHECKS):] + CHECKS[:run % len(CHECKS)]
            seconds = {name: [] for name in CHECKS}
            for numbers in zip(*(keys[name] for name in CHECKS)):
                number = dict(zip(CHECKS, numbers))
                for name in order:
                    seconds[name].append(check[name](number[name]))
            for name, values in seconds.items():
                samples[name] += values
                run_medians[name].append(statistics.median(values) * 1000)
            print(f"{rows:>12,} rows, run {run + 1}/{repeat}: "
                  + ", ".join(f"{name} {run_medians[name][-1]:.3f} ms" for name in CHECKS) + " (medians)")
    summary = {name: _summary(samples[name]) for name in CHECKS}
    project, lua, old = (summary[name] for name in CHECKS)
    return {"rows": rows, "table_mb": table_mb, "index_mb": index_mb,
            **{name: {**summary[name], "run_medians_ms": run_medians[name]} for name in CHECKS},
            "project_vs_lua": project["median_ms"] / lua["median_ms"],
            "project_vs_lua_p95": project["p95_ms"] / lua["p95_ms"],
            "old_vs_project": old["median_ms"] / project["median_ms"],
            "old_vs_project_p95": old["p95_ms"] / project["p95_ms"]}


def run(sizes, checks, hits_per_key, repeat):
    """Every size in turn (growing the table), the figures of each; leaves no `rate_limits` table behind."""
    allowed, _ = rate()
    if not 0 < hits_per_key <= allowed:
        raise SystemExit(f"--hits-per-key must be between 1 and the limit ({allowed}): a check must not be refused.")
    if checks % hits_per_key:
        raise SystemExit("--checks must be a multiple of --hits-per-key.")
    # A set of keys per check and run, plus one per check for warming up, none checked twice across runs.
    per_run, count = checks // hits_per_key, len(CHECKS)
    needed = (count * repeat * len(sizes) + count) * per_run
    if needed > KEY_SPACE // 2:
        raise SystemExit("Too many checks for the key space: lower --checks, --repeat or raise --hits-per-key.")
    pairs = random.Random(SEED).sample(range(KEY_SPACE // 2), needed)
    drop_table()
    create_table()
    try:
        # Connections opened, code paths and Redis scripts loaded before anything is timed.
        warm = pairs[-count * per_run:]
        for index, name in enumerate(CHECKS):
            measure(name, run_keys(warm[index * per_run:(index + 1) * per_run], checks, hits_per_key))
        figures, per_size = [], count * repeat * per_run
        for index, rows in enumerate(sorted(sizes)):
            figures.append(measure_size(rows, pairs[per_size * index:per_size * (index + 1)], checks, hits_per_key,
                                        repeat))
    finally:
        drop_table()  # leaves the benchmark database small
    return figures


# (d): what a redemption writes, emptied before the requests are measured.
REDEMPTION_TABLES = ("gift_card_logs", "gift_cards", "recipients", "gift_card_pool_alerts", "events",
                     "recipient_stages", "campaign_daily_stats", "campaign_daily_funnel", "audit_logs",
                     "event_rollup_queue")


def redemption_tokens(count):
    """`count` recipients of an active campaign and as many free cards in its pool; their tokens."""
    client = common.bench_client("bench-ratelimit", "Benchmarks: rate limits")
    pool = common.bench_pool(client, "Bench pool")
    campaign, _ = Campaign.objects.get_or_create(
        client=client, name="Bench: rate limits", defaults={"status": CampaignStatus.ACTIVE, "gift_card_pool": pool}
    )
    # Claims record an event now: this month needs its partition.
    ensure_partitions()
    codes = (f"{number:016d}" for number in random.Random(SEED).sample(range(10 ** 16), count))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(REDEMPTION_TABLES)} RESTART IDENTITY CASCADE")
        tokens = common.insert_recipients(cursor, campaign.pk, count, "bench-ratelimit")
        common.copy_cards(cursor, common.card_rows(pool.pk, codes))
        cursor.execute(f"VACUUM ANALYZE {', '.join(REDEMPTION_TABLES)}")
    return tokens


def measure_requests(recipients):
    """Seconds of each POST /api/v1/redeem/ for (number, token) recipients, each from the IP of its number."""
    client, seconds = APIClient(), []
    for number, token in recipients:
        ip, _ = key_pair(number)
        start = time.perf_counter()
        response = client.post(REDEEM_PATH, {"token": token}, format="json", REMOTE_ADDR=ip)
        seconds.append(time.perf_counter() - start)
        if response.status_code != 201:
            raise SystemExit(f"A redemption answered {response.status_code}: {response.content[:300]!r}")
    return seconds


def measure_redemptions(requests, repeat):
    """(d): whole redemption requests with the check and without it, alternating, each run on recipients of its own."""
    recipients = list(enumerate(redemption_tokens(2 * requests * (repeat + 1))))
    batches = [recipients[index:index + requests] for index in range(0, len(recipients), requests)]
    samples, run_medians = {"with_check": [], "without_check": []}, {"with_check": [], "without_check": []}
    cache.clear()
    # Warm up, untimed.
    measure_requests(batches.pop())
    with override_settings(RATELIMIT_ENABLE=False):
        measure_requests(batches.pop())
    for run in range(repeat):
        for name, enabled in (("with_check", True), ("without_check", False)):
            with override_settings(RATELIMIT_ENABLE=enabled):
                seconds = measure_requests(batches.pop())
            samples[name] += seconds
            run_medians[name].append(statistics.median(seconds) * 1000)
        print(f"Redemption requests, run {run + 1}/{repeat}: with the check {run_medians['with_check'][-1]:.2f} ms, "
              f"without {run_medians['without_check'][-1]:.2f} ms (medians)")
    with_check, without = _summary(samples["with_check"]), _summary(samples["without_check"])
    return {"with_check": {**with_check, "run_medians_ms": run_medians["with_check"]},
            "without_check": {**without, "run_medians_ms": run_medians["without_check"]},
            "added_median_ms": with_check["median_ms"] - without["median_ms"],
            "with_vs_without": with_check["median_ms"] / without["median_ms"]}


def report(figures):
    sizes = figures["sizes"]
    print(f"\nRate-limit check on the redemption path (keys: client IP and token), added latency per check; "
          f"{figures['checks']:,} checks per run, each key {figures['hits_per_key']} times, {figures['repeat']} "
          f"alternating runs")
    print(f"{'logged rows':>12}{'table+index':>13}{'project med':>13}{'p95':>8}{'lua med':>10}{'p95':>8}"
          f"{'proj/lua med':>14}{'p95':>7}{'old med':>10}{'p95':>8}{'old/proj med':>14}{'p95':>7}")
    for size in sizes:
        project, lua, old = (size[name] for name in CHECKS)
        print(f"{size['rows']:>12,}{size['table_mb'] + size['index_mb']:>10,.0f} MB"
              f"{project['median_ms']:>10.3f} ms{project['p95_ms']:>8.3f}"
              f"{lua['median_ms']:>7.3f} ms{lua['p95_ms']:>8.3f}"
              f"{size['project_vs_lua']:>13.2f}×{size['project_vs_lua_p95']:>6.2f}×"
              f"{old['median_ms']:>7.3f} ms{old['p95_ms']:>8.3f}{size['old_vs_project']:>13.1f}×"
              f"{size['old_vs_project_p95']:>6.1f}×")
    print("project: django-ratelimit's get_usage() per key on the Redis cache (a new counter: one add; an existing "
          "one: an add, then an increment). lua: the previous hand-written limiter, kept only in this benchmark, both "
          "keys counted by one script call (INCR, EXPIRE when new). old: per key, a transaction that locks the key, "
          "counts its rows in the window and logs one, committed durably.")
    requests = figures.get("requests")
    if requests:
        with_check, without = requests["with_check"], requests["without_check"]
        print(f"\nA whole redemption request (median of {with_check['checks']:,}, p95 in brackets): "
              f"{with_check['median_ms']:.2f} ms ({with_check['p95_ms']:.2f}) with the check, "
              f"{without['median_ms']:.2f} ms ({without['p95_ms']:.2f}) without: "
              f"{requests['added_median_ms']:+.2f} ms, {requests['with_vs_without']:.2f} ×.")


def report_rows(figures):
    """The report's rows (python -m bench): the check's median per call against the previous Lua check's, then
    against the old count-then-insert check's, per table size."""
    rows = []
    for size in figures["sizes"]:
        median = round(size["project"]["median_ms"], 3)
        rows.append(common.report_row(f"rate-limit check (django-ratelimit), old table at {size['rows']:,} rows: "
                                      f"median", median, "ms", floor=round(size["lua"]["median_ms"], 3),
                                      floor_name="the previous Lua check", ratio=size["project_vs_lua"]))
        rows.append(common.report_row(f"rate-limit check (django-ratelimit), old table at {size['rows']:,} rows: "
                                      f"median", median, "ms", floor=round(size["old"]["median_ms"], 3),
                                      floor_name="the old count-then-insert check", ratio=size["old_vs_project"]))
    requests = figures.get("requests")
    if requests:
        rows.append(common.report_row("redemption request with the check: median",
                                      round(requests["with_check"]["median_ms"], 2), "ms",
                                      floor=round(requests["without_check"]["median_ms"], 2),
                                      floor_name="the same without it", ratio=requests["with_vs_without"]))
    return rows


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.ratelimit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="0,1000000,10000000",
                        help="comma-separated sizes of the old platform's rate_limits table")
    parser.add_argument("--checks", type=int, default=500, help="checks per run of each")
    parser.add_argument("--hits-per-key", type=int, default=5, help="times each key is checked in a run")
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs of each check per size")
    parser.add_argument("--requests", type=int, default=200,
                        help="whole redemption requests per run with and without the check (0: skip)")
    args = parser.parse_args()
    try:
        sizes = sorted({int(size.replace("_", "")) for size in args.rows.split(",")})
    except ValueError:
        raise SystemExit("--rows takes whole numbers separated by commas, e.g. 0,1000000.") from None
    if sizes[0] < 0 or args.checks < 1 or args.repeat < 1 or args.requests < 0:
        raise SystemExit("--rows and --requests must be 0 or more; --checks and --repeat at least 1.")
    started = time.perf_counter()
    common.prepare_database()
    figures = {"checks": args.checks, "hits_per_key": args.hits_per_key, "repeat": args.repeat,
               "rate": settings.RATELIMITS[GROUP],
               "sizes": run(sizes, args.checks, args.hits_per_key, args.repeat), "requests": None}
    if args.requests:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        broker.flushdb()
        try:
            figures["requests"] = measure_redemptions(args.requests, args.repeat)
        finally:
            broker.flushdb()
            common.empty_tables(*REDEMPTION_TABLES)  # leaves the benchmark database small
    figures.update(database=connection.settings_dict["NAME"], cpus=os.cpu_count(),
                   finished_at=timezone.now().isoformat(timespec="seconds"),
                   total_seconds=time.perf_counter() - started)
    report(figures)
    path = common.write_results("ratelimit", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")
    return figures


if __name__ == "__main__":
    main()
