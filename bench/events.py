"""Events benchmark at scale, on its own database (`mobul_bench_events`) in one run:

(1) the campaign funnel from the daily rollups (analytics.selectors.campaign_analytics on a cache miss) against the
    same answer computed from the raw events;
(2) the plan of a one-month time-range query: only that month's partition may be read;
(3) dropping one month's partition against DELETE of the same rows (rolled back);
(4) `POST /api/v1/events/` in batches of 1,000 against a raw COPY of the same rows in the same batches.

Goals: (1) p95 under 50 ms and at least 100 × faster than the raw events, (2) exactly one partition, (4) at least
0.5 × the rate of the COPY. The load is --events events over the 24 full months before this one, generated in
Python and streamed into one COPY; a rerun skips it when the database already holds that many.

    python -m bench.events [--events 10000000] [--reload] [--profile POSTS]
"""

import argparse
import bisect
import cProfile
import gc
import itertools
import json
import os
import pstats
import random
import re
import statistics
import time
import uuid
import warnings
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench import common

# Redis database 5: the cache of this benchmark alone.
common.setup_django("mobul_bench_events", redis_db=5)  # apart from the test suite's
# Benchmarks do not collect static files; WhiteNoise would say so on the first request.
warnings.filterwarnings("ignore", "No directory at", UserWarning)

from django.db import connection, transaction  # noqa: E402  (the settings must be set up first)
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.choices import ApiKeyScope  # noqa: E402
from accounts.services import create_api_key  # noqa: E402
from analytics.choices import EventSource, EventType, FunnelStage  # noqa: E402
from analytics.ingest import MAX_BATCH  # noqa: E402
from analytics.models import CampaignDailyStat, Event  # noqa: E402
from analytics.partitions import add_months, drop_partitions_before, ensure_partitions, list_partitions, \
    month_start, partition_name  # noqa: E402
from analytics.rollups import STAGE_MAP, apply_pending_rollups, bump_campaign_version, rebuild_rollups  # noqa: E402
from analytics.selectors import campaign_analytics  # noqa: E402
from campaigns.choices import CampaignStatus  # noqa: E402
from campaigns.models import Campaign, Recipient  # noqa: E402

SEED = 2026
MONTHS = 24
CAMPAIGNS = 20
# The biggest campaign mails every month; the others mail once each and share the remaining events.
EVERGREEN_SHARE = 0.25
PIECE_COST = Decimal("0.65")
DAY = 86_400
DELIVERED, RETURNED = 0.90, 0.04
# (event type, source, share of delivered recipients who respond this way, chance of each further one)
RESPONSES = (
    (EventType.PURL_VIEWED, EventSource.PURL, 0.12, 0.6),
    (EventType.QR_SCANNED, EventSource.QR, 0.06, 0.3),
    (EventType.CALL_STARTED, EventSource.CALL, 0.04, 0.2),
)
GIFT_CARD_SHARE, REDEEMED_SHARE, CALL_COMPLETED_SHARE = 0.3, 0.6, 0.8
INGEST_RECIPIENTS = 20_000
INGEST_TYPES = ((EventType.PURL_VIEWED, EventSource.PURL), (EventType.QR_SCANNED, EventSource.QR),
                (EventType.CALL_STARTED, EventSource.CALL), ("custom.coupon_printed", EventSource.API))
EVENTS_URL = "/api/v1/events/"
GOAL_P95_MS, GOAL_VS_RAW, GOAL_VS_COPY = 50, 100, 0.5
PARTITION = re.compile(r"\bevents_\d{4}_\d{2}\b")

COPY_SQL = "COPY events (created_at, campaign_id, recipient_id, event_type, source, payload) FROM STDIN"
RECIPIENTS_SQL = """
INSERT INTO recipients (id, campaign_id, first_name, last_name, company, address1, address2, city, state,
                        postal_code, country, phone, email, external_id, custom_fields, redemption_token, short_code,
                        dedupe_hash, status)
SELECT n, r.campaign_id, '', '', '', n || ' Bench Street', '', 'Springfield', 'IL', '62701', 'US', '', '', '', '{}',
       md5('bench-' || n), 'b' || n, n, 'mailed'
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r (first_id, last_id, campaign_id),
     generate_series(r.first_id, r.last_id) AS n
"""
# The funnel and daily series of campaign_analytics, from the raw events: distinct recipients per stage through the
# rollups' own event type → stage map, and events per UTC day and type.
RAW_FUNNEL_SQL = f"""
SELECT stage, count(DISTINCT recipient_id) FROM events JOIN {STAGE_MAP} USING (event_type)
WHERE campaign_id = %(campaign)s AND created_at >= %(since)s AND created_at < %(until)s GROUP BY stage
"""
RAW_DAILY_SQL = """
SELECT event_type, (created_at AT TIME ZONE 'UTC')::date, count(*) FROM events
WHERE campaign_id = %(campaign)s AND created_at >= %(since)s AND created_at < %(until)s GROUP BY 1, 2 ORDER BY 1, 2
"""


def _midnight(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _timeline(rng, sent):
    """One recipient's events as (epoch seconds, type, source), from its mail piece sent at `sent`."""
    events = [(sent, EventType.MAIL_SENT, EventSource.MAIL)]
    fate = rng.random()
    if fate >= DELIVERED:
        if fate < DELIVERED + RETURNED:
            events.append((sent + rng.uniform(5, 20) * DAY, EventType.MAIL_RETURNED, EventSource.MAIL))
        return events
    delivered = sent + rng.uniform(2, 6) * DAY
    events.append((delivered, EventType.MAIL_DELIVERED, EventSource.MAIL))
    first_response = None
    for event_type, source, share, again in RESPONSES:
        if rng.random() >= share:
            continue
        at = delivered + rng.expovariate(1 / (7 * DAY))
        first_response = min(at, first_response or at)
        while True:
            events.append((at, event_type, source))
            if event_type == EventType.CALL_STARTED and rng.random() < CALL_COMPLETED_SHARE:
                events.append((at + rng.uniform(60, 900), EventType.CALL_COMPLETED, EventSource.CALL))
            if rng.random() >= again:
                break
            at += rng.expovariate(1 / (2 * DAY))
    if first_response is not None and rng.random() < GIFT_CARD_SHARE:
        claimed = first_response + rng.uniform(60, 3600)
        events.append((claimed, EventType.GIFT_CARD_CLAIMED, EventSource.PURL))
        events.append((claimed + rng.uniform(5, 300), EventType.GIFT_CARD_DELIVERED, EventSource.API))
        if rng.random() < REDEEMED_SHARE:
            events.append((claimed + rng.uniform(1, 30) * DAY, EventType.GIFT_CARD_REDEEMED, EventSource.API))
    return events


def _plan_drops(first_month, rng):
    """(start in epoch seconds, campaign index, share of the events) of every mailing, oldest first."""
    drops = [(_midnight(add_months(first_month, month)).timestamp() + 4 * DAY, 0, EVERGREEN_SHARE / MONTHS)
             for month in range(MONTHS)]
    weights = [rng.uniform(0.5, 1.5) for _ in range(CAMPAIGNS - 1)]
    for index, weight in enumerate(weights, start=1):
        month = (index - 1) * (MONTHS - 1) // (CAMPAIGNS - 2)
        start = _midnight(add_months(first_month, month)).timestamp() + rng.uniform(0, 20) * DAY
        drops.append((start, index, (1 - EVERGREEN_SHARE) * weight / sum(weights)))
    return sorted(drops)


def copy_events(drops, campaign_ids, events, until, rng):
    """Streams exactly `events` events into one COPY, oldest first; returns the recipient id ranges it used.

    Each drop mails new recipients (ids from 1 up) until the events so far reach its cumulative share, the last one
    until `events`. Events after `until` have not happened yet. Rows go out in time order, as they would have
    arrived, so a campaign's events lie scattered among everyone else's rather than packed together.
    """
    pending, ranges, generated, next_id = [], [], 0, 1
    with connection.cursor() as cursor, cursor.cursor.copy(COPY_SQL) as copy:
        def write_before(moment):
            pending.sort()
            cut = bisect.bisect_left(pending, (moment,))
            for at, campaign_id, recipient_id, event_type, source in pending[:cut]:
                copy.write_row((datetime.fromtimestamp(at, UTC), campaign_id, recipient_id, event_type, source, "{}"))
            del pending[:cut]

        cumulative = itertools.accumulate(share for _, _, share in drops)
        for number, ((start, index, _), share_so_far) in enumerate(zip(drops, cumulative), start=1):
            # Every later event is at or after this drop's start: all before it can go out.
            write_before(start)
            quota = events if number == len(drops) else round(share_so_far * events)
            first_id = next_id
            while generated < quota:
                timeline = [event for event in _timeline(rng, start + rng.uniform(0, 2 * DAY)) if event[0] < until]
                timeline = sorted(timeline)[:events - generated]
                pending.extend((at, campaign_ids[index], next_id, event_type, source)
                               for at, event_type, source in timeline)
                generated += len(timeline)
                next_id += 1
            ranges.append((first_id, next_id - 1, campaign_ids[index]))
        write_before(float("inf"))
    return ranges


def insert_recipients(ranges):
    """One recipient per id of each (first id, last id, campaign id) range, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(RECIPIENTS_SQL, [list(column) for column in zip(*ranges)])
        # The ids were given, so the identity has to be moved past them by hand.
        cursor.execute("SELECT setval(pg_get_serial_sequence('recipients', 'id'), (SELECT max(id) FROM recipients))")


def _bench_client():
    return common.bench_client("bench-events", "Benchmarks: events")


@transaction.atomic
def load(client, events, since, until):
    """Replaces the campaigns, recipients and events with a fresh load and rebuilds the rollups. Returns figures."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events, recipient_stages, event_ingest_keys, campaign_daily_stats,"
                       " campaign_daily_funnel, recipients, campaigns RESTART IDENTITY CASCADE")
    rng = random.Random(SEED)
    drops = _plan_drops(since.date(), rng)
    first_drops = {index: start for start, index, _ in reversed(drops)}  # the earliest one wins
    campaigns = [
        Campaign.objects.create(
            client=client, name="Evergreen (monthly drops)" if index == 0 else f"Bench campaign {index}",
            status=CampaignStatus.ACTIVE, mail_date=datetime.fromtimestamp(first_drops[index], UTC).date(),
        )
        for index in range(CAMPAIGNS)
    ]
    copy_seconds, ranges = common.timed(
        copy_events, drops, [campaign.pk for campaign in campaigns], events, until.timestamp(), rng
    )
    print(f"Generated and copied {events:,} events in {copy_seconds:.0f} s ({events / copy_seconds:,.0f}/s)")
    recipients_seconds, _ = common.timed(insert_recipients, ranges)
    recipients = ranges[-1][1]
    print(f"Inserted {recipients:,} recipients in {recipients_seconds:.0f} s")
    for campaign in campaigns:
        mailed = sum(last - first + 1 for first, last, campaign_id in ranges if campaign_id == campaign.pk)
        Campaign.objects.filter(pk=campaign.pk).update(cost=PIECE_COST * mailed)
    rollups_seconds, _ = common.timed(
        lambda: rebuild_rollups(start=since.date(), end=(until - timedelta(days=1)).date())
    )
    print(f"Rebuilt the rollups in {rollups_seconds:.0f} s")
    return {"recipients": recipients, "copy_seconds": copy_seconds, "events_per_second": events / copy_seconds,
            "recipients_seconds": recipients_seconds, "rollups_seconds": rollups_seconds}


def vacuum():
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def _latencies(call, runs, before=lambda: None):
    """Seconds of `runs` calls; one more call first warms the caches and does not count."""
    seconds = []
    for _ in range(runs + 1):
        before()
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def _spread(seconds):
    return {"p50_ms": statistics.median(seconds) * 1000, "p95_ms": common.percentile(seconds, 95) * 1000,
            "runs": len(seconds)}


def raw_answer(campaign, since, until):
    params = {"campaign": campaign.pk, "since": since, "until": until}
    with connection.cursor() as cursor:
        cursor.execute(RAW_FUNNEL_SQL, params)
        funnel = dict(cursor.fetchall())
        cursor.execute(RAW_DAILY_SQL, params)
        daily = defaultdict(list)
        for event_type, day, events in cursor.fetchall():
            daily[event_type].append({"day": day.isoformat(), "events": events})
    return {stage: funnel.get(stage, 0) for stage in FunnelStage.values}, dict(daily)


def _comparable(analytics):
    funnel = {row["stage"]: row["recipients"] for row in analytics["funnel"]}
    return funnel | {FunnelStage.RESPONDED.value: analytics["responses"]}, analytics["daily"]


def measure_funnel(campaign, since, until, raw_key, runs, raw_runs):
    start, end = since.date(), (until - timedelta(days=1)).date()

    def from_rollups():
        return campaign_analytics(campaign=campaign, start=start, end=end)

    def new_version():
        # The next call then misses the cache and reads the rollups, as after any new event.
        bump_campaign_version(campaign.pk)

    # The range covers the campaign's whole history, so the recipients who first reached a stage in it (what the
    # rollups count) are those who reached it in it at all.
    if _comparable(from_rollups()) != raw_answer(campaign, since, until):
        raise SystemExit(f"The rollups and the raw events disagree on campaign {campaign.pk}'s analytics.")
    api = _api(raw_key)
    url = f"/api/v1/campaigns/{campaign.pk}/analytics/?from={start}&to={end}"
    response = api.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} failed: {response.content[:500]}")
    clock = common.SqlClock()
    with connection.execute_wrapper(clock):
        rollups = _spread(_latencies(from_rollups, runs, before=new_version))
    figures = {
        "rollups": rollups | {"sql_mean_ms": clock.seconds / (runs + 1) * 1000},
        "cached": _spread(_latencies(from_rollups, runs)),
        "endpoint": _spread(_latencies(lambda: api.get(url), runs, before=new_version)),
        "raw_runs_ms": [s * 1000 for s in _latencies(lambda: raw_answer(campaign, since, until), raw_runs)],
    }
    figures["raw_ms"] = statistics.median(figures["raw_runs_ms"])
    figures["raw_vs_rollups"] = figures["raw_ms"] / figures["rollups"]["p50_ms"]
    return figures


def partitions_in_plan(first):
    """The partitions that the plan of a query for the events of the month starting on `first` reads."""
    until = _midnight(add_months(first, 1))
    plan = Event.objects.filter(created_at__gte=_midnight(first), created_at__lt=until).explain()
    return {"month": f"{first:%Y-%m}", "partitions_in_plan": sorted(set(PARTITION.findall(plan))),
            "expected": partition_name(first), "partitions_total": len(list_partitions())}


def measure_retention(first):
    """DELETE of one month's events, rolled back, against dropping its partition; the month is put back after."""
    name, since, until = partition_name(first), _midnight(first), _midnight(add_months(first, 1))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE saved_month AS SELECT * FROM {name}")
        cursor.execute("CHECKPOINT")
    with transaction.atomic(), connection.cursor() as cursor:
        delete_seconds, _ = common.timed(
            cursor.execute, "DELETE FROM events WHERE created_at >= %s AND created_at < %s", [since, until]
        )
        rows = cursor.rowcount
        transaction.set_rollback(True)
    drop_seconds, dropped = common.timed(drop_partitions_before, add_months(first, 1))
    if dropped != [name]:
        raise SystemExit(f"Expected to drop {name} only, dropped {dropped}.")
    ensure_partitions(months_back=0, months_ahead=0, today=first)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO events SELECT * FROM saved_month")
        cursor.execute("DROP TABLE saved_month")
        cursor.execute(f"VACUUM ANALYZE {name}")
    return {"month": f"{first:%Y-%m}", "rows": rows, "delete_seconds": delete_seconds, "drop_seconds": drop_seconds,
            "delete_vs_drop": delete_seconds / drop_seconds}


def _ingest_campaign(client):
    campaign, _ = Campaign.objects.get_or_create(client=client, name="API ingest",
                                                 defaults={"status": CampaignStatus.ACTIVE})
    if not campaign.recipients.exists():
        first_id = (Recipient.all_objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        insert_recipients([(first_id, first_id + INGEST_RECIPIENTS - 1, campaign.pk)])
    return campaign


def forget_ingested(campaign):
    """Removes what ingest runs wrote: every run starts alike, and the loaded events stay as loaded."""
    with connection.cursor() as cursor:
        for table in ("events", "campaign_daily_stats", "campaign_daily_funnel", "recipient_stages"):
            cursor.execute(f"DELETE FROM {table} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute("DELETE FROM event_ingest_keys WHERE client_id = %s", [campaign.client_id])
        cursor.execute("DELETE FROM event_rollup_queue")
        # As autovacuum would between bursts: otherwise every run inserts among all earlier runs' dead rows.
        cursor.execute("VACUUM events, event_ingest_keys, event_rollup_queue")


def ingest_batches(campaign, recipient_ids, batches, rng):
    """Batches of MAX_BATCH valid events of the last ten minutes, each with an idempotency key of its own."""
    now, run = timezone.now(), uuid.uuid4().hex

    def event(key):
        event_type, source = rng.choice(INGEST_TYPES)
        return {"campaign": campaign.pk, "recipient": rng.choice(recipient_ids), "event_type": event_type,
                "source": source, "occurred_at": (now - timedelta(seconds=rng.uniform(0, 600))).isoformat(),
                "payload": {"session": f"{rng.getrandbits(64):016x}"}, "idempotency_key": key}

    return [[event(f"{run}-{number}-{index}") for index in range(MAX_BATCH)] for number in range(batches)]


def _api(raw_key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api


def post_batches(api, bodies):
    """POSTs request bodies encoded beforehand: encoding is the integrator's work, not the server's."""
    return [api.post(EVENTS_URL, body, content_type="application/json") for body in bodies]


def encoded(batches):
    return [json.dumps({"events": batch}) for batch in batches]


def copy_batches(batches):
    """The floor: one COPY per batch, each its own transaction like each request, of exactly what the API stores."""
    with connection.cursor() as cursor:
        for batch in batches:
            with cursor.cursor.copy(COPY_SQL) as copy:
                for row in batch:
                    copy.write_row(row)


def _rows(batch):
    return [(datetime.fromisoformat(item["occurred_at"]), item["campaign"], item["recipient"], item["event_type"],
             item["source"], json.dumps(item["payload"])) for item in batch]


def measure_ingest(campaign, raw_key, batches, repeat):
    """API runs and COPY runs alternate, so that noise hits both alike; the medians are compared."""
    rng = random.Random(SEED)
    recipient_ids = list(campaign.recipients.values_list("pk", flat=True))
    api, clock = _api(raw_key), common.SqlClock()
    api_runs, copy_runs, apply_runs = [], [], []
    for run in range(1, repeat + 1):
        forget_ingested(campaign)
        items = ingest_batches(campaign, recipient_ids, batches, rng)
        rows, bodies = [_rows(batch) for batch in items], encoded(items)
        gc.collect()  # the garbage of building the batches is collected now, not inside a timed run
        gc.freeze()  # the test data this process holds is no server's: its collections must not walk it
        with connection.execute_wrapper(clock):
            seconds, responses = common.timed(post_batches, api, bodies)
        gc.unfreeze()
        refused = [response.content for response in responses
                   if response.status_code != 200 or response.json()["accepted"] != MAX_BATCH]
        if refused:
            raise SystemExit(f"The API should have accepted every event: {refused[0][:500]}")
        api_runs.append(seconds)
        # What the worker then does for these batches: counting them into the rollups.
        apply_seconds, counted = common.timed(apply_pending_rollups)
        counted_stats = CampaignDailyStat.objects.filter(campaign=campaign).aggregate(events=Sum("events"))["events"]
        if counted != batches * MAX_BATCH or counted_stats != counted:
            raise SystemExit(f"The rollups should count every ingested event once: {counted}, {counted_stats}")
        apply_runs.append(apply_seconds)
        gc.collect()
        copy_runs.append(common.timed(copy_batches, rows)[0])
        print(f"Ingest run {run}/{repeat}: API {api_runs[-1]:.2f} s, COPY {copy_runs[-1]:.2f} s, "
              f"rollups counted after it {apply_runs[-1]:.2f} s")
    forget_ingested(campaign)
    events = batches * MAX_BATCH
    api_rate, copy_rate = events / statistics.median(api_runs), events / statistics.median(copy_runs)
    return {"batches": batches, "batch_size": MAX_BATCH, "api_runs": api_runs, "copy_runs": copy_runs,
            "api_events_per_second": api_rate, "copy_events_per_second": copy_rate, "api_vs_copy": api_rate / copy_rate,
            "api_batch_ms": statistics.median(api_runs) / batches * 1000,
            "copy_batch_ms": statistics.median(copy_runs) / batches * 1000,
            "rollup_apply_batch_ms": statistics.median(apply_runs) / batches * 1000,
            "api_sql_mean_batch_ms": clock.seconds / (repeat * batches) * 1000}


def profile_posts(campaign, raw_key, posts):
    """Prints where the time of `posts` more POSTs goes (cProfile): for when the API misses its goal."""
    batches = ingest_batches(campaign, list(campaign.recipients.values_list("pk", flat=True)), posts,
                             random.Random(SEED))
    profiler = cProfile.Profile()
    profiler.runcall(post_batches, _api(raw_key), encoded(batches))
    forget_ingested(campaign)
    print(f"\nProfile of {posts} POSTs of {MAX_BATCH:,} events")
    # Cumulative time of the project's own functions, then the hottest functions anywhere.
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"/(accounts|analytics|mobul)/", 20)
    stats.sort_stats("tottime").print_stats(20)


def _sizes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()),"
                       " (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                       "  WHERE inhparent = 'events'::regclass)")
        database, events = cursor.fetchone()
    return {"database_bytes": database, "events_bytes": int(events)}


def summarize(figures):
    funnel, ingest, pruning = figures["funnel"], figures["ingest"], figures["pruning"]
    read = pruning["partitions_in_plan"]
    figures["goals"] = [
        {"goal": f"funnel from rollups: p95 < {GOAL_P95_MS} ms", "measured": f"{funnel['rollups']['p95_ms']:.1f} ms",
         "passed": funnel["rollups"]["p95_ms"] < GOAL_P95_MS},
        {"goal": f"funnel from rollups ≥ {GOAL_VS_RAW} × faster than raw events",
         "measured": f"{funnel['raw_vs_rollups']:,.0f} ×", "passed": funnel["raw_vs_rollups"] >= GOAL_VS_RAW},
        {"goal": "one-month range reads exactly its partition", "measured": f"{len(read)} of "
         f"{pruning['partitions_total']}", "passed": read == [pruning["expected"]]},
        {"goal": f"API ingest ≥ {GOAL_VS_COPY} × raw COPY", "measured": f"{ingest['api_vs_copy']:.2f} ×",
         "passed": ingest["api_vs_copy"] >= GOAL_VS_COPY},
    ]
    return figures


def report(figures):
    load, funnel, ingest, retention = figures["load"], figures["funnel"], figures["ingest"], figures["retention"]
    print(f"\nEvents benchmark: {figures['events']:,} events over {MONTHS} monthly partitions "
          f"({figures['since']} to {figures['until']}), {figures['pruning']['partitions_total']} partitions in all")
    if load:
        print(f"Load: {load['recipients']:,} recipients; events generated and copied in {load['copy_seconds']:.0f} s "
              f"({load['events_per_second']:,.0f}/s), recipients {load['recipients_seconds']:.0f} s, rollups rebuilt "
              f"in {load['rollups_seconds']:.0f} s, VACUUM ANALYZE {load['vacuum_seconds']:.0f} s")
    else:
        print("Load: skipped, the database already held these events (--reload loads them again)")
    print(f"Database {figures['database_bytes'] / 2**30:.1f} GiB, "
          f"of which events {figures['events_bytes'] / 2**30:.1f} GiB")
    rollups, cached, endpoint = funnel["rollups"], funnel["cached"], funnel["endpoint"]
    rows = [
        ("funnel from rollups, cache miss, p50 / p95", f"{rollups['p50_ms']:.1f} / {rollups['p95_ms']:.1f} ms",
         "", ""),
        ("  of which SQL, mean", f"{rollups['sql_mean_ms']:.1f} ms", "", ""),
        ("  same through GET …/analytics/, p50 / p95", f"{endpoint['p50_ms']:.1f} / {endpoint['p95_ms']:.1f} ms",
         "", ""),
        ("  cache hit, p50 / p95", f"{cached['p50_ms']:.2f} / {cached['p95_ms']:.2f} ms", "", ""),
        (f"funnel from raw events, median of {len(funnel['raw_runs_ms'])}", f"{funnel['raw_ms']:,.0f} ms",
         "rollups p50", f"{funnel['raw_vs_rollups']:,.0f} ×"),
        (f"drop partition {retention['month']}", f"{retention['drop_seconds'] * 1000:,.0f} ms",
         f"DELETE {retention['rows']:,} rows {retention['delete_seconds'] * 1000:,.0f} ms",
         f"{retention['delete_vs_drop']:,.0f} ×"),
        (f"API ingest, {ingest['batches']} × {ingest['batch_size']:,} events",
         f"{ingest['api_events_per_second']:,.0f}/s", f"COPY {ingest['copy_events_per_second']:,.0f}/s",
         f"{ingest['api_vs_copy']:.2f} ×"),
        ("  per batch: POST / COPY", f"{ingest['api_batch_ms']:.0f} ms", f"{ingest['copy_batch_ms']:.0f} ms", ""),
        ("  of which SQL statements, COPY aside, mean", f"{ingest['api_sql_mean_batch_ms']:.0f} ms", "", ""),
        ("  then counted into rollups by the worker", f"{ingest['rollup_apply_batch_ms']:.0f} ms", "", ""),
    ]
    print(f"\nFunnel of campaign {funnel['campaign']} ({funnel['campaign_events']:,} events) over the {MONTHS} months; "
          f"ingest: medians of {len(ingest['api_runs'])} alternating runs")
    print(f"{'measurement':46}{'figure':>22}  {'baseline':32}{'ratio':>8}")
    for label, figure, baseline, ratio in rows:
        print(f"{label:46}{figure:>22}  {baseline:32}{ratio:>8}")
    print(f"\nPartitions in the plan of {figures['pruning']['month']}'s events: "
          f"{', '.join(figures['pruning']['partitions_in_plan'])}")
    print(f"\n{'goal':56}{'measured':>12}  result")
    for goal in figures["goals"]:
        print(f"{goal['goal']:56}{goal['measured']:>12}  {'PASS' if goal['passed'] else 'FAIL'}")


def report_rows(figures):
    funnel, ingest, retention, pruning, goals = (figures["funnel"], figures["ingest"], figures["retention"],
                                                 figures["pruning"], figures["goals"])
    rollups = funnel["rollups"]
    return [
        common.report_row(f"funnel from rollups, {figures['events']:,} events: p95", round(rollups["p95_ms"], 1), "ms",
                          goal=f"< {GOAL_P95_MS} ms", passed=goals[0]["passed"]),
        common.report_row("funnel from rollups: p50", round(rollups["p50_ms"], 1), "ms", floor=round(funnel["raw_ms"]),
                          floor_name="the same from raw events", ratio=funnel["raw_vs_rollups"],
                          goal=f"raw ≥ {GOAL_VS_RAW} × slower", passed=goals[1]["passed"]),
        common.report_row("one-month range: partitions read", len(pruning["partitions_in_plan"]), "partitions",
                          goal="exactly 1", passed=goals[2]["passed"]),
        common.report_row(f"drop a month's partition ({retention['rows']:,} rows)",
                          round(retention["drop_seconds"] * 1000, 1), "ms",
                          floor=round(retention["delete_seconds"] * 1000), floor_name="DELETE of the same rows",
                          ratio=retention["delete_vs_drop"]),
        common.report_row(f"API ingest, batches of {ingest['batch_size']:,}", round(ingest["api_events_per_second"]),
                          "events/s", floor=round(ingest["copy_events_per_second"]), floor_name="raw COPY",
                          ratio=ingest["api_vs_copy"], goal=f"≥ {GOAL_VS_COPY} ×", passed=goals[3]["passed"]),
    ]


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.events", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--reload", action="store_true", help="load the events again even if they are there")
    parser.add_argument("--runs", type=int, default=50, help="calls per funnel latency figure")
    parser.add_argument("--raw-runs", type=int, default=5, help="runs of the funnel from raw events")
    parser.add_argument("--batches", type=int, default=50, help="batches of 1,000 events per ingest run")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of API ingest and COPY")
    parser.add_argument("--profile", type=int, default=0, metavar="POSTS",
                        help="then profile this many more POSTs of 1,000 events")
    args = parser.parse_args()
    started = time.perf_counter()
    common.prepare_database()
    this_month = month_start(timezone.now().date())
    since, until = _midnight(add_months(this_month, -MONTHS)), _midnight(this_month)
    # The loaded months, this one (where ingested events land) and the three ahead, as the daily task keeps them.
    ensure_partitions(months_back=0, months_ahead=MONTHS + 3, today=since.date())
    client = _bench_client()
    figures = {"events": args.events, "since": f"{since:%Y-%m}", "until": f"{until - timedelta(days=1):%Y-%m}",
               "load": None}
    loaded = Event.objects.filter(created_at__gte=since, created_at__lt=until).count()
    if args.reload or loaded != args.events:
        figures["load"] = load(client, args.events, since, until)
        figures["load"]["vacuum_seconds"], _ = common.timed(vacuum)
    _, raw_key = create_api_key(client=client, name="bench events", scopes=[ApiKeyScope.READ, ApiKeyScope.WRITE])

    biggest = (CampaignDailyStat.objects.filter(campaign__client=client).values("campaign")
               .annotate(events=Sum("events")).order_by("-events").first())
    campaign = Campaign.objects.get(pk=biggest["campaign"])
    print(f"Funnel of campaign {campaign.pk} ({biggest['events']:,} events)")
    figures["funnel"] = {"campaign": campaign.pk, "campaign_events": biggest["events"],
                         **measure_funnel(campaign, since, until, raw_key, args.runs, args.raw_runs)}

    figures["pruning"] = partitions_in_plan(add_months(since.date(), MONTHS // 2))

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    ingest_campaign = _ingest_campaign(client)
    figures["ingest"] = measure_ingest(ingest_campaign, raw_key, args.batches, args.repeat)
    if args.profile:
        profile_posts(ingest_campaign, raw_key, args.profile)
    figures["retention"] = measure_retention(since.date())
    figures.update(_sizes(), database=connection.settings_dict["NAME"], cpus=os.cpu_count(),
                   finished_at=timezone.now().isoformat(timespec="seconds"),
                   total_seconds=time.perf_counter() - started)
    report(summarize(figures))
    path = common.write_results("events", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")


if __name__ == "__main__":
    main()
