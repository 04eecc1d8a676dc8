"""Request-metrics benchmark: what the latency middleware adds to every request, in one run.

(a) ops.latency.record, the middleware's Redis write (one EVALSHA of a short Lua script), per call;
(b) the floor: one Redis PING round trip on the same connection, per call;
(c) a request through the whole Django stack (the test client, a view that touches neither the database nor
    Redis) with the middleware, against (d) the same requests without it. Runs alternate so noise hits both.

Goal: (a) costs at most 2 × (b), i.e. the middleware is one round trip and nothing more.

    python -m bench.ops [--calls 5000] [--requests 2000] [--repeat 5]
"""

import argparse
import os
import statistics
import time

from bench import common

REDIS_DB = 7
common.setup_django("mobul_bench_ops", redis_db=REDIS_DB)

from django.conf import settings  # noqa: E402  (the settings must be set up first)
from django.test import Client, override_settings  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402

from ops import latency  # noqa: E402

GOAL_RECORD = 2.0
MIDDLEWARE = "ops.middleware.RequestMetricsMiddleware"


def per_call_us(function, calls):
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls * 1e6


def requests_us(client, count):
    started = time.perf_counter()
    for _ in range(count):
        # The redemption form: a plain template view, no database, no cache.
        response = client.get("/r/")
        assert response.status_code == 200, response.status_code
    return (time.perf_counter() - started) / count * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    redis = get_redis_connection("default")
    redis.flushdb()
    record_runs, ping_runs, with_runs, without_runs = [], [], [], []
    without = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    client = Client()
    requests_us(client, 50)  # warm-up: templates compiled, connections open
    for run in range(1, args.repeat + 1):
        record_runs.append(per_call_us(lambda: latency.record("GET /bench/", 3.2, error=False), args.calls))
        ping_runs.append(per_call_us(redis.ping, args.calls))
        with_runs.append(requests_us(client, args.requests))
        with override_settings(MIDDLEWARE=without):
            without_runs.append(requests_us(Client(), args.requests))
        print(f"run {run}/{args.repeat}: record {record_runs[-1]:.0f} µs, PING {ping_runs[-1]:.0f} µs, "
              f"request with {with_runs[-1]:.0f} µs, without {without_runs[-1]:.0f} µs")
    redis.flushdb()

    record, ping = statistics.median(record_runs), statistics.median(ping_runs)
    with_mw, without_mw = statistics.median(with_runs), statistics.median(without_runs)
    figures = {
        "calls": args.calls, "requests": args.requests, "repeat": args.repeat, "load_average": os.getloadavg(),
        "record_us": record, "ping_us": ping, "record_vs_ping": record / ping,
        "request_with_us": with_mw, "request_without_us": without_mw, "middleware_overhead_us": with_mw - without_mw,
        "goal": {"goal": f"latency.record ≤ {GOAL_RECORD} × one Redis round trip", "measured": record / ping,
                 "passed": record / ping <= GOAL_RECORD},
    }
    print(f"\n{'measurement (median of ' + str(args.repeat) + ')':46}{'figure':>12}  {'baseline':28}{'ratio':>8}")
    print(f"{'latency.record per call':46}{record:>9.0f} µs  {'Redis PING ' + format(ping, '.0f') + ' µs':28}"
          f"{record / ping:>8.2f}")
    print(f"{'request with the middleware':46}{with_mw:>9.0f} µs  {'without ' + format(without_mw, '.0f') + ' µs':28}"
          f"{with_mw / without_mw:>8.2f}")
    print(f"\nMiddleware overhead per request: {with_mw - without_mw:.0f} µs. Load average: {os.getloadavg()}")
    goal = figures["goal"]
    print(f"{goal['goal']:56}{goal['measured']:>8.2f}  {'PASS' if goal['passed'] else 'FAIL'}")
    rows = [
        common.report_row("latency.record per call", round(record), "µs", floor=round(ping), floor_name="Redis PING",
                          ratio=record / ping, goal=f"≤ {GOAL_RECORD} ×", passed=goal["passed"]),
        common.report_row("request with the metrics middleware", round(with_mw), "µs", floor=round(without_mw),
                          floor_name="the same request without it", ratio=with_mw / without_mw),
    ]
    path = common.write_results("ops", figures, rows=rows)
    print(f"Figures: {path}")


if __name__ == "__main__":
    main()
