"""HTTP load benchmark, on its own database (`mobul_bench_load`) in one run:

gunicorn serves the app on localhost (gthread workers, as deployed) and wrk drives, at each concurrency of
--levels, one endpoint at a time for --seconds:
- `constant`: /bench/constant/, a view answering a constant through the whole middleware stack: the floor, what
  this stack can serve on this machine at all (enabled by BENCH_TRIVIAL_ENDPOINT, never in production);
- `template`: GET /api/v1/templates/<id>/ with an API key, over --templates templates, every other read
  revalidating with its ETag (304); the hit ratio counts from a cold cache over the whole measurement;
- `purl`: GET /r/<token>, the recipient's page, which records a visit event;
- `redeem`: POST /api/v1/redeem/, each request a different recipient claiming a card (a repeat would only read).
Each endpoint is first warmed up (--warmup seconds, not counted: gunicorn's threads open their connections).
Endpoints alternate within each round and rounds repeat (--repeat), so noise hits all alike; medians are reported.
Each run also reads the CPU time that gunicorn's processes, the benchmark database's PostgreSQL backends and Redis
spent (from /proc), per request: on a machine where all of them share the cores, these bound what a request costs.

Goals: redemption p95 < 200 ms at 32 concurrent clients, and at least 0.5 × the constant endpoint's throughput
at that concurrency; template cache hit ratio > 95 % (server-side misses counted by the view).

Limits for the run: redemption and API rate limits are raised through the environment (RATELIMIT_REDEMPTION,
RATELIMIT_API), as they only exist to stop abuse from one address, and here every request comes from 127.0.0.1.
The 5-minute per-recipient cooldown and per-recipient idempotency stay as they are: every redemption uses a fresh
recipient, so the campaign has --recipients recipients and as many cards (enough for the default levels, seconds
and rounds; the run stops with a clear message when they are too few).

    python -m bench.load [--levels 1,8,32,64] [--seconds 10] [--repeat 3] [--recipients 60000]
"""

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis

from bench import common

# Redis database 6 is this benchmark's cache and broker (cache keys are prefixed, queues are not); the queues
# the redemptions fill are removed after the run, since no worker reads them.
CACHE_DB = BROKER_DB = 6
LIMITS = {"RATELIMIT_REDEMPTION": "100000000/m", "RATELIMIT_API": "100000000/m"}
os.environ.update(LIMITS, BENCH_TRIVIAL_ENDPOINT="true")
common.setup_django("mobul_bench_load", redis_db=CACHE_DB, broker_db=BROKER_DB)

from django.conf import settings  # noqa: E402  (the settings must be set up first)
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.choices import ApiKeyScope  # noqa: E402
from accounts.services import create_api_key  # noqa: E402
from analytics.partitions import ensure_partitions  # noqa: E402
from campaigns.api.views import TEMPLATE_CACHE_MISSES_KEY  # noqa: E402
from campaigns.choices import CampaignStatus  # noqa: E402
from campaigns.models import Campaign, MailTemplate  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).with_name("load.lua")
ENDPOINTS = ("constant", "template", "purl", "redeem")
EXPECTED_STATUS = {"constant": {200}, "template": {200, 304}, "purl": {200}, "redeem": {201}}
GOAL_P95_MS, GOAL_VS_CONSTANT, GOAL_HIT_RATIO, GOAL_CLIENTS = 200, 0.5, 0.95, 32
TABLES = ("gift_card_logs", "gift_cards", "recipients", "gift_card_pool_alerts", "events", "recipient_stages",
          "campaign_daily_stats", "campaign_daily_funnel", "audit_logs", "event_rollup_queue")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_data(recipients, templates):
    """A client with an API key, --templates templates, and an active campaign of recipients with as many cards."""
    common.empty_tables(*TABLES)
    client = common.bench_client("bench-load", "Benchmarks: load")
    pool = common.bench_pool(client, "Load pool")
    Campaign.objects.filter(client=client).delete()
    MailTemplate.objects.filter(client=client).delete()
    template_ids = [MailTemplate.objects.create(
        client=client, name=f"Load template {n}", size="4x6",
        front_html=f"<h1>Hello {{{{ first_name }}}}</h1><p>Offer {n}: {{{{ purl }}}}</p>" * 20).pk
        for n in range(templates)]
    campaign = Campaign.objects.create(client=client, name="Load", status=CampaignStatus.ACTIVE, gift_card_pool=pool)
    _, raw_key = create_api_key(client=client, name="bench load", scopes=[ApiKeyScope.READ])
    seconds, cards = common.timed(card_rows, pool, recipients)
    with connection.cursor() as cursor:
        tokens = common.insert_recipients(cursor, campaign.pk, recipients, "bench-load")
        common.copy_cards(cursor, cards)
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        cursor.execute("CHECKPOINT")
    print(f"Loaded {recipients:,} recipients and cards ({seconds:.1f} s to encrypt the codes), {templates} templates")
    return raw_key, template_ids, tokens


def card_rows(pool, count):
    """COPY rows of `count` distinct cards, encrypted as an import stores them."""
    codes = (f"LOAD{number:012d}" for number in random.Random(2026).sample(range(10 ** 12), count))
    return common.card_rows(pool.pk, codes)


class Server:
    """gunicorn on a free localhost port, with the benchmark's settings in its environment."""

    def __init__(self, workers, threads):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mobul.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
             "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, "LOG_LEVEL": "ERROR"}, stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url("/bench/constant/"), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("gunicorn did not start: see its output above.") from None
                time.sleep(0.2)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server, database):
    """CPU seconds used so far by gunicorn's processes, `database`'s PostgreSQL backends and Redis, by group."""
    totals = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            parent = int(stat[1])
        except (OSError, IndexError):
            continue  # gone meanwhile
        if server.process.pid in (int(pid), parent):
            group = "web"
        elif command.startswith("postgres: ") and f" {database} " in command:
            group = "postgres"
        elif command.startswith("redis-server"):
            group = "redis"
        else:
            continue
        totals[group] += (int(stat[11]) + int(stat[12])) / CLOCK_TICKS  # utime + stime
    return totals


def etags(server, raw_key, template_ids):
    tags = []
    for pk in template_ids:
        request = urllib.request.Request(server.url(f"/api/v1/templates/{pk}/"),
                                         headers={"Authorization": f"Bearer {raw_key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            tags.append(f"{pk}={response.headers['ETag']}")
    return tags


def wrk(server, endpoint, clients, seconds, tokens_file, offset, template_args):
    threads = min(clients, os.cpu_count() or 2)
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(SCRIPT), server.url(), "--", endpoint, str(tokens_file), str(offset), str(threads),
               *template_args]
    before = cpu_seconds(server, connection.settings_dict["NAME"])
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    after = cpu_seconds(server, connection.settings_dict["NAME"])
    found = re.search(r"^BENCH_JSON (.*)$", result.stdout, re.MULTILINE)
    if result.returncode or not found or "out of tokens" in result.stdout + result.stderr:
        raise SystemExit(f"wrk failed on {endpoint} at {clients} clients:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(found.group(1))
    unexpected = {status: count for status, count in figures["statuses"].items()
                  if int(status) not in EXPECTED_STATUS[endpoint]}
    if unexpected or figures["socket_errors"]:
        raise SystemExit(f"{endpoint} at {clients} clients answered {unexpected} and had "
                         f"{figures['socket_errors']} socket errors: the run does not count. "
                         f"First failure: {figures['first_failure']}")
    # Tokens used: every thread took its own stride of them.
    figures["tokens_used"] = figures["most_sent_by_a_thread"] * threads
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["cpu_ms"] = {group: (after[group] - before[group]) * 1000 / figures["requests"] for group in after}
    return figures


def measure(server, raw_key, template_ids, tokens_file, token_count, levels, seconds, repeat, warmup):
    runs = {endpoint: {clients: [] for clients in levels} for endpoint in ENDPOINTS}
    offsets = {"purl": 0, "redeem": 0}
    template_args = [raw_key, *etags(server, raw_key, template_ids)]

    def one_run(endpoint, clients, length):
        figures = wrk(server, endpoint, clients, length, tokens_file, offsets.get(endpoint, 0), template_args)
        if endpoint in offsets:
            offsets[endpoint] += figures["tokens_used"]
        return figures

    # Every process and thread of gunicorn opens its connections (database, Redis, broker) before timing starts.
    for endpoint in ENDPOINTS:
        one_run(endpoint, max(levels), warmup)
    # From a cold template cache, misses counted over the whole measurement: the first read of each template, and
    # every read after its cached copy expired (5 minutes).
    cache.delete_many([MailTemplate.cache_key(pk) for pk in template_ids])
    cache.set(TEMPLATE_CACHE_MISSES_KEY, 0, timeout=None)
    for round_number in range(1, repeat + 1):
        for clients in levels:
            for endpoint in ENDPOINTS:
                figures = one_run(endpoint, clients, seconds)
                runs[endpoint][clients].append(figures)
                print(f"Round {round_number}/{repeat}, {clients:>3} clients, {endpoint:9}: {figures['rps']:8,.0f}/s, "
                      f"p50 {figures['p50_us'] / 1000:6.1f} ms, p95 {figures['p95_us'] / 1000:6.1f} ms, "
                      f"p99 {figures['p99_us'] / 1000:6.1f} ms; load average {os.getloadavg()[0]:.1f}")
            # A PURL page may be seen again (a card is claimed once): its tokens start over when half are used.
            offsets["purl"] = 0 if offsets["purl"] > token_count // 2 else offsets["purl"]
    template_reads = sum(run["requests"] for by_level in runs["template"].values() for run in by_level)
    misses = int(cache.get(TEMPLATE_CACHE_MISSES_KEY))
    return runs, {"reads": template_reads, "misses": misses, "hit_ratio": 1 - misses / template_reads}


def summarize(runs, cache_figures, levels):
    table = {endpoint: {clients: {**{name: statistics.median(run[name] for run in figures)
                                     for name in ("rps", "p50_us", "p95_us", "p99_us")},
                                  "cpu_ms": {group: statistics.median(run["cpu_ms"][group] for run in figures)
                                             for group in figures[0]["cpu_ms"]}}
                        for clients, figures in by_level.items()}
             for endpoint, by_level in runs.items()}
    at = GOAL_CLIENTS if GOAL_CLIENTS in levels else max(levels)
    redeem, constant = table["redeem"][at], table["constant"][at]
    hit_ratio = cache_figures["hit_ratio"]
    goals = [
        {"goal": f"redemption p95 < {GOAL_P95_MS} ms at {at} clients", "measured": f"{redeem['p95_us'] / 1000:.0f} ms",
         "passed": redeem["p95_us"] / 1000 < GOAL_P95_MS},
        {"goal": f"redemption ≥ {GOAL_VS_CONSTANT} × the constant endpoint's requests/s at {at} clients",
         "measured": f"{redeem['rps'] / constant['rps']:.2f} ×", "passed": redeem["rps"] / constant["rps"] >=
         GOAL_VS_CONSTANT},
        {"goal": f"template cache hit ratio > {GOAL_HIT_RATIO:.0%}", "measured": f"{hit_ratio:.2%}",
         "passed": hit_ratio > GOAL_HIT_RATIO},
    ]
    return table, at, goals


def report_rows(table, cache_figures, at, goals):
    rows = []
    for endpoint in ("redeem", "purl", "template"):
        for clients, row in table[endpoint].items():
            constant = table["constant"][clients]
            is_goal = endpoint == "redeem" and clients == at
            rows.append(common.report_row(
                f"HTTP {endpoint}, {clients} clients: requests/s (p50 / p95 / p99 "
                f"{row['p50_us'] / 1000:.1f} / {row['p95_us'] / 1000:.1f} / {row['p99_us'] / 1000:.1f} ms)",
                round(row["rps"]), "req/s", floor=round(constant["rps"]), floor_name="constant endpoint",
                ratio=row["rps"] / constant["rps"], goal=f"≥ {GOAL_VS_CONSTANT} ×" if is_goal else "",
                passed=goals[1]["passed"] if is_goal else None))
    redeem = table["redeem"][at]
    redeem_cpu, constant_cpu = sum(redeem["cpu_ms"].values()), sum(table["constant"][at]["cpu_ms"].values())
    rows.append(common.report_row(
        f"HTTP redeem, {at} clients: CPU ms per request (web + PostgreSQL + Redis; the ratio bounds req/s's)",
        round(redeem_cpu, 2), "ms", floor=round(constant_cpu, 2), floor_name="constant endpoint",
        ratio=constant_cpu / redeem_cpu))
    rows.append(common.report_row(f"HTTP redeem, {at} clients: p95", round(redeem["p95_us"] / 1000, 1), "ms",
                                  goal=f"< {GOAL_P95_MS} ms", passed=goals[0]["passed"]))
    rows.append(common.report_row(f"HTTP template cache hit ratio over {cache_figures['reads']:,} reads",
                                  round(cache_figures["hit_ratio"], 4), "", goal=f"> {GOAL_HIT_RATIO}",
                                  passed=goals[2]["passed"]))
    return rows


def report(figures):
    table = figures["table"]
    print(f"\nHTTP load: gunicorn {figures['workers']} workers × {figures['threads']} threads, wrk, "
          f"{figures['seconds']} s per run, medians of {figures['repeat']} round(s)")
    print(f"{'endpoint':10}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'vs constant':>13}"
          f"{'CPU ms per request: web + PostgreSQL + Redis':>47}")
    for endpoint in ENDPOINTS:
        for clients, row in table[endpoint].items():
            ratio = row["rps"] / table["constant"][clients]["rps"]
            cpu = row["cpu_ms"]
            print(f"{endpoint:10}{clients:>8}{row['rps']:>10,.0f}{row['p50_us'] / 1000:>9.1f}"
                  f"{row['p95_us'] / 1000:>9.1f}{row['p99_us'] / 1000:>9.1f}{ratio:>12.2f}×"
                  f"{cpu['web']:>21.2f} + {cpu['postgres']:.2f} + {cpu['redis']:.2f} = {sum(cpu.values()):.2f}")
    cache_figures = figures["template_cache"]
    print(f"\nTemplate reads {cache_figures['reads']:,}, cache misses {cache_figures['misses']:,}")
    print(f"\n{'goal':70}{'measured':>10}  result")
    for goal in figures["goals"]:
        print(f"{goal['goal']:70}{goal['measured']:>10}  {'PASS' if goal['passed'] else 'FAIL'}")


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,8,32,64", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=int, default=10, help="length of each run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of each endpoint before timing, not counted")
    parser.add_argument("--recipients", type=int, default=60_000, help="recipients, and cards, in the campaign")
    parser.add_argument("--templates", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 2), help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    args = parser.parse_args()
    levels = sorted({int(level) for level in args.levels.split(",")})
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (the Debian package).")
    started = time.perf_counter()
    common.prepare_database()
    ensure_partitions()
    cache.clear()
    raw_key, template_ids, tokens = load_data(args.recipients, args.templates)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(*settings.CELERY_QUEUE_NAMES)
    with common.scratch_folder() as folder:
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        server = Server(args.workers, args.threads)
        try:
            runs, cache_figures = measure(server, raw_key, template_ids, tokens_file, len(tokens), levels,
                                          args.seconds, args.repeat, args.warmup)
        finally:
            server.stop()
    broker.delete(*settings.CELERY_QUEUE_NAMES)  # what the redemptions queued: no worker reads this broker database
    table, at, goals = summarize(runs, cache_figures, levels)
    common.empty_tables(*TABLES)  # leaves the benchmark database small
    figures = {"levels": levels, "seconds": args.seconds, "repeat": args.repeat, "recipients": args.recipients,
               "templates": args.templates, "workers": args.workers, "threads": args.threads, "limits": LIMITS,
               "runs": runs, "table": table, "template_cache": cache_figures, "goals": goals, "database": connection.settings_dict["NAME"],
               "cpus": os.cpu_count(), "finished_at": timezone.now().isoformat(timespec="seconds"),
               "total_seconds": time.perf_counter() - started}
    report(figures)
    path = common.write_results("load", figures, rows=report_rows(table, cache_figures, at, goals))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")


if __name__ == "__main__":
    main()
