"""Gift-card benchmark, on its own database (`mobul_bench_giftcards`) in one run:

(a) giftcards.services.assign_cards giving --cards available cards of a pool to as many card-less recipients;
(b) the floor: the same pairing (the nth free card by id to the nth card-less recipient by id) as one raw set-based
    statement, with the same writes: the cards' UPDATE, the recipients' UPDATE and one gift_card_logs row per card;
(c) giftcards.services.redeem for --redemptions card-less recipients, one call after the other on one connection,
    each call its own transaction;
(d) the floor: the transaction redeem performs for them, as raw SQL through psycopg on the same connection.

Goals: (a) takes at most 1.5 × (b); (c) makes at least 0.5 × the calls per second of (d). Every measurement
starts from the same state: --cards recipients without a card and --cards available cards, freshly loaded, vacuumed
and analysed. Service and floor alternate, so that noise hits both alike, and the medians are compared.

Redemptions queue Celery tasks when they commit (a delivery dispatch run, coalesced: one for the whole burst, as no
worker empties the outbox here; the pool's stock check). Here they go to a broker database of this benchmark's own,
which no worker reads and which is emptied after: (c) pays the publishes, as in production, and a publish is also
timed alone; (d) is the database transaction only.

    python -m bench.giftcards [--cards 100000] [--redemptions 2000] [--repeat 3] [--profile]
"""

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import time
from collections import Counter
from datetime import timedelta

import redis

from bench import common

CACHE_DB, BROKER_DB = 7, 6  # apart from the test suite's (15, 14 and below)
common.setup_django("mobul_bench_giftcards", redis_db=CACHE_DB, broker_db=BROKER_DB)

from django.conf import settings  # noqa: E402  (the settings must be set up first)
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.postgresql.base import ServerBindingCursor  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics.choices import EventSource, EventType  # noqa: E402
from analytics.partitions import ensure_partitions  # noqa: E402
from analytics.services import RECORD_COUNT_LATER_SQL  # noqa: E402
from campaigns.choices import CampaignStatus  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from giftcards.choices import DeliveryStatus, GiftCardAction, GiftCardStatus, RedemptionChannel  # noqa: E402
from giftcards import card_log  # noqa: E402
from giftcards.services import CLAIM_FREE_SQL, LOCK_RECIPIENT_SQL, assign_cards, redeem  # noqa: E402
from giftcards.models import GiftCard  # noqa: E402
from giftcards.tasks import deliver_gift_card, dispatch_deliveries  # noqa: E402

SEED = 2026
GOAL_ASSIGN, GOAL_REDEEM = 1.5, 0.5
# What the runs write, emptied before each; TRUNCATE ... CASCADE reaches nothing else that holds rows here.
TABLES = ("gift_card_logs", "gift_cards", "recipients", "gift_card_pool_alerts", "events", "recipient_stages",
          "campaign_daily_stats", "campaign_daily_funnel", "event_rollup_queue")


# (b): the service's pairing without its chunks and SKIP LOCKED, all of it in one statement.
ASSIGN_FLOOR_SQL = """
WITH cards AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM gift_cards
    WHERE pool_id = %(pool)s AND status = 'available' AND recipient_id IS NULL
), people AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM recipients
    WHERE campaign_id = %(campaign)s AND gift_card_id IS NULL AND deleted_at IS NULL
), pairs AS (
    SELECT cards.id AS card_id, people.id AS recipient_id FROM cards JOIN people USING (n)
), assigned_cards AS (
    UPDATE gift_cards SET recipient_id = pairs.recipient_id, assigned_at = %(now)s
    FROM pairs WHERE gift_cards.id = pairs.card_id
    RETURNING gift_cards.id, gift_cards.recipient_id
), assigned_people AS (
    UPDATE recipients SET gift_card_id = pairs.card_id, updated_at = %(now)s
    FROM pairs WHERE recipients.id = pairs.recipient_id
)
INSERT INTO gift_card_logs (card_id, action, from_status, to_status, recipient_id, reason, created_at)
SELECT id, 'assigned', 'available', 'available', recipient_id, '', %(now)s FROM assigned_cards
"""

CHECK_SQL = """
SELECT (SELECT count(*) FROM gift_cards WHERE recipient_id IS NOT NULL AND status = %(status)s),
       (SELECT count(DISTINCT recipient_id) FROM gift_cards),
       (SELECT count(*) FROM recipients WHERE gift_card_id IS NOT NULL),
       (SELECT count(DISTINCT gift_card_id) FROM recipients),
       (SELECT count(*) FROM recipients r JOIN gift_cards g ON g.id = r.gift_card_id AND g.recipient_id = r.id),
       (SELECT count(*) FROM gift_card_logs WHERE action = %(action)s),
       (SELECT count(*) FROM events WHERE event_type = %(event)s)
"""
CHECKS = ("cards held", "distinct holders", "recipients with a card", "distinct cards held",
          "pairs both sides agree on", "log rows", "claim events")


def _bench_pool_and_campaign():
    client = common.bench_client("bench-giftcards", "Benchmarks: gift cards")
    pool = common.bench_pool(client, "Bench pool")
    campaign, _ = Campaign.objects.get_or_create(
        client=client, name="Bench: gift cards", defaults={"status": CampaignStatus.ACTIVE, "gift_card_pool": pool}
    )
    return pool, campaign


def card_rows(pool, count):
    """COPY rows of `count` cards as an import stores them: code encrypted, with its lookup hash. Made once."""
    # Distinct numbers, so every code and code_hash is unique.
    codes = (f"{number:016d}" for number in random.Random(SEED).sample(range(10 ** 16), count))
    return common.card_rows(pool.pk, codes)


def reset(campaign, cards):
    """The state every measurement starts from: as many recipients without a card as there are available cards."""
    common.empty_tables(*TABLES)
    # The service coalesces work per pool through the cache (the benchmark's own Redis database).
    cache.clear()
    with connection.cursor() as cursor:
        common.insert_recipients(cursor, campaign.pk, len(cards), "bench-giftcards")
        common.copy_cards(cursor, cards)
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        # The load's WAL is written out now, not during the measurement.
        cursor.execute("CHECKPOINT")


def check_pairs(pairs, status, action, events=0):
    """Exits unless exactly `pairs` cards and recipients hold each other one-to-one, each pair logged."""
    with connection.cursor() as cursor:
        cursor.execute(CHECK_SQL, {"status": status, "action": action, "event": EventType.GIFT_CARD_CLAIMED})
        counts = dict(zip(CHECKS, cursor.fetchone()))
    expected = dict.fromkeys(CHECKS, pairs) | {"claim events": events}
    if counts != expected:
        raise SystemExit(f"Expected {pairs:,} one-to-one pairs, each logged: {counts}")


def assign_service(pool, campaign):
    return assign_cards(pool=pool, campaign=campaign).assigned


def assign_floor(pool, campaign):
    """(b), in autocommit: the statement is its own transaction. Returns how many cards it assigned."""
    with connection.cursor() as cursor:
        cursor.execute(ASSIGN_FLOOR_SQL, {"pool": pool.pk, "campaign": campaign.pk, "now": timezone.now()})
        return cursor.rowcount


def measure_assignment(pool, campaign, cards, repeat):
    count, runs = len(cards), {"service": [], "floor": []}
    for run in range(1, repeat + 1):
        for name, assign in (("service", assign_service), ("floor", assign_floor)):
            reset(campaign, cards)
            seconds, assigned = common.timed(assign, pool, campaign)
            if assigned != count:
                raise SystemExit(f"The {name} assigned {assigned:,} cards, not {count:,}.")
            check_pairs(count, GiftCardStatus.AVAILABLE, GiftCardAction.ASSIGNED)
            runs[name].append(seconds)
        print(f"Assignment run {run}/{repeat}: service {runs['service'][-1]:.2f} s, floor {runs['floor'][-1]:.2f} s")
    service, floor = statistics.median(runs["service"]), statistics.median(runs["floor"])
    return {"service_runs": runs["service"], "floor_runs": runs["floor"], "service_seconds": service,
            "floor_seconds": floor, "service_vs_floor": service / floor}


def redemption_tokens(count, redemptions):
    """Tokens of `redemptions` recipients spread evenly over the campaign; the same after every reset."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT redemption_token FROM recipients WHERE id %% %s = 0 ORDER BY id LIMIT %s",
                       [count // redemptions, redemptions])
        return [token for (token,) in cursor.fetchall()]


def redeem_service(tokens):
    for token in tokens:
        redeem(token=token)


def redeem_floor(tokens):
    """(d): redeem's transaction per token, on the psycopg connection under Django's, with the cursor class redeem
    uses (mobul.db.prepared_cursor's: parameters bound on the server, so its statements get prepared too).

    Its statements are redeem's own (its SQL, and analytics' record_event statement that counts the event later)
    for a recipient without a card, with no request or actor, so no audit row."""
    connection.ensure_connection()
    raw = connection.connection
    with ServerBindingCursor(raw) as cursor:
        cooldown = timedelta(seconds=settings.REDEMPTION_COOLDOWN_SECONDS)
        for token in tokens:
            now = timezone.now()
            with raw.transaction():
                cursor.execute(LOCK_RECIPIENT_SQL, [token])
                recipient_id, *_, campaign_id, campaign_status, pool_id, client_id = cursor.fetchone()
                cursor.execute(CLAIM_FREE_SQL, {
                    "recipient": recipient_id, "held": None, "pool": pool_id, "today": timezone.localdate(now),
                    "cooldown": cooldown, **card_log.params(at=now, reason=f"channel: {RedemptionChannel.WEB}"),
                })
                _, card_id, card_pool_id, *_ = cursor.fetchone()
                cursor.execute(RECORD_COUNT_LATER_SQL, {
                    "at": timezone.now(), "campaign": campaign_id, "recipient": recipient_id,
                    "type": EventType.GIFT_CARD_CLAIMED, "source": EventSource.PURL,
                    "payload": json.dumps({"card": card_id, "pool": card_pool_id, "channel": RedemptionChannel.WEB}),
                })
                cursor.fetchone()


def queued_tasks(broker):
    """Task name → how many of its messages wait in the benchmark's broker, in all of its queues."""
    return Counter(json.loads(message)["headers"]["task"] for queue in settings.CELERY_QUEUE_NAMES
                   for message in broker.lrange(queue, 0, -1))


def publish_deliveries(count):
    """A publish alone, `count` times: what a task queued on commit costs."""
    for card_id in range(1, count + 1):
        deliver_gift_card.delay(card_id)


def measure_redemption(campaign, cards, redemptions, repeat, broker):
    runs, queued = {"service": [], "floor": [], "publish": []}, {}
    for run in range(1, repeat + 1):
        for name, call in (("service", redeem_service), ("floor", redeem_floor)):
            reset(campaign, cards)
            tokens = redemption_tokens(len(cards), redemptions)
            broker.flushdb()
            runs[name].append(common.timed(call, tokens)[0])
            check_pairs(redemptions, GiftCardStatus.CLAIMED, GiftCardAction.CLAIMED, events=redemptions)
            queued[name] = queued_tasks(broker)
            outbox = GiftCard.objects.filter(delivery_status=DeliveryStatus.PENDING).count()
            if name == "service" and outbox != redemptions:
                raise SystemExit(f"{outbox:,} of {redemptions:,} claims wait in the delivery outbox.")
        # The service really queued its dispatch run (not run in-process); the floor publishes nothing.
        if queued["service"][dispatch_deliveries.name] != 1 or queued["floor"]:
            raise SystemExit(f"For {redemptions:,} claims the service queued {dict(queued['service'])}, "
                             f"the floor {dict(queued['floor'])}.")
        broker.flushdb()
        runs["publish"].append(common.timed(publish_deliveries, redemptions)[0])
        broker.flushdb()
        rates = {name: redemptions / seconds[-1] for name, seconds in runs.items()}
        print(f"Redemption run {run}/{repeat}: service {rates['service']:,.0f}/s, floor {rates['floor']:,.0f}/s, "
              f"a publish alone {1000 / rates['publish']:.2f} ms")
    service, floor = (redemptions / statistics.median(runs[name]) for name in ("service", "floor"))
    published = {task: count / redemptions for task, count in queued["service"].items()}
    publish_ms = statistics.median(runs["publish"]) / redemptions * 1000
    # An estimate: the service's time less what its publishes cost when timed alone.
    without_publishes = 1000 / (1000 / service - publish_ms * sum(published.values()))
    return {"calls": redemptions, **{f"{name}_runs": seconds for name, seconds in runs.items()},
            "service_calls_per_second": service, "floor_calls_per_second": floor, "service_vs_floor": service / floor,
            "service_ms_per_call": 1000 / service, "floor_ms_per_call": 1000 / floor, "publish_ms": publish_ms,
            "published_per_call": published, "service_vs_floor_without_publishes": without_publishes / floor}


def profile(label, function, *args):
    """Prints where the time of one more run goes (cProfile): for when the service misses its goal."""
    profiler = cProfile.Profile()
    profiler.runcall(function, *args)
    print(f"\nProfile of {label}")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35).sort_stats("tottime").print_stats(15)


def summarize(figures):
    assignment, redemption = figures["assignment"], figures["redemption"]
    figures["goals"] = [
        {"goal": f"(a) time ≤ {GOAL_ASSIGN} × (b)", "measured": f"{assignment['service_vs_floor']:.2f} ×",
         "passed": assignment["service_vs_floor"] <= GOAL_ASSIGN},
        {"goal": f"(c) calls/s ≥ {GOAL_REDEEM} × (d)", "measured": f"{redemption['service_vs_floor']:.2f} ×",
         "passed": redemption["service_vs_floor"] >= GOAL_REDEEM},
    ]
    return figures


def report(figures):
    assignment, redemption, goals = figures["assignment"], figures["redemption"], figures["goals"]
    print(f"\nGift cards: {figures['cards']:,} cards and {figures['cards']:,} recipients per run; medians of "
          f"{figures['repeat']} alternating runs of service and floor")
    rows = (
        (f"assign {figures['cards']:,} cards, s", f"{assignment['service_seconds']:.2f}",
         f"{assignment['floor_seconds']:.2f}", f"≤ {GOAL_ASSIGN} ×", goals[0]),
        (f"{redemption['calls']:,} redemptions, calls/s", f"{redemption['service_calls_per_second']:,.0f}",
         f"{redemption['floor_calls_per_second']:,.0f}", f"≥ {GOAL_REDEEM} ×", goals[1]),
    )
    print(f"{'measurement':34}{'service':>9}{'floor':>9}{'ratio':>9}  {'goal':9}result")
    for label, service, floor, target, goal in rows:
        result = "PASS" if goal["passed"] else "FAIL"
        print(f"{label:34}{service:>9}{floor:>9}{goal['measured']:>9}  {target:9}{result}")
    published = redemption["published_per_call"]
    print("\nThe assignment's floor is one statement: both UPDATEs and the log rows.")
    print(f"A redemption: {redemption['service_ms_per_call']:.2f} ms through the service, "
          f"{redemption['floor_ms_per_call']:.2f} ms as raw SQL (its transaction only). After its commit the service "
          f"publishes {', '.join(f'{task} × {count:.3g}' for task, count in published.items())} a call; a publish "
          f"alone takes {redemption['publish_ms']:.2f} ms. Without its publishes the service would make "
          f"{redemption['service_vs_floor_without_publishes']:.2f} × the floor's calls/s.")
    if not all(goal["passed"] for goal in goals):
        print("A goal was missed: --profile prints where the service's time goes.")


def report_rows(figures):
    assignment, redemption, goals = figures["assignment"], figures["redemption"], figures["goals"]
    return [
        common.report_row(f"assign {figures['cards']:,} cards", round(assignment["service_seconds"], 2), "s",
                          floor=round(assignment["floor_seconds"], 2), floor_name="one raw SQL statement",
                          ratio=assignment["service_vs_floor"], goal=f"time ≤ {GOAL_ASSIGN} ×", passed=goals[0]["passed"]),
        common.report_row(f"{redemption['calls']:,} redemptions, one connection", round(
            redemption["service_calls_per_second"]), "calls/s", floor=round(redemption["floor_calls_per_second"]),
            floor_name="its transaction as raw SQL", ratio=redemption["service_vs_floor"], goal=f"≥ {GOAL_REDEEM} ×",
            passed=goals[1]["passed"]),
    ]


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.giftcards", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cards", type=int, default=100_000, help="cards, and recipients, per run")
    parser.add_argument("--redemptions", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each service and its floor")
    parser.add_argument("--profile", action="store_true", help="then profile one more run of each service path")
    args = parser.parse_args()
    if not 0 < args.redemptions <= args.cards:
        raise SystemExit("--redemptions must be between 1 and --cards.")
    started = time.perf_counter()
    common.prepare_database()
    # Claims record an event now: this month needs its partition.
    ensure_partitions()
    pool, campaign = _bench_pool_and_campaign()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    seconds, cards = common.timed(card_rows, pool, args.cards)
    print(f"Encrypted {args.cards:,} card codes in {seconds:.1f} s")
    figures = {"cards": args.cards, "repeat": args.repeat,
               "assignment": measure_assignment(pool, campaign, cards, args.repeat),
               "redemption": measure_redemption(campaign, cards, args.redemptions, args.repeat, broker)}
    if args.profile:
        reset(campaign, cards)
        profile(f"assign_cards of {args.cards:,} cards", assign_service, pool, campaign)
        reset(campaign, cards)
        profile(f"{args.redemptions:,} redemptions", redeem_service, redemption_tokens(args.cards, args.redemptions))
        broker.flushdb()
    common.empty_tables(*TABLES)  # leaves the benchmark database small
    figures.update(database=connection.settings_dict["NAME"], cpus=os.cpu_count(),
                   finished_at=timezone.now().isoformat(timespec="seconds"),
                   total_seconds=time.perf_counter() - started)
    report(summarize(figures))
    path = common.write_results("giftcards", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")


if __name__ == "__main__":
    main()
