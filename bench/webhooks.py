"""Outbound webhooks benchmark, on its own database (`mobul_bench_webhooks`) in one run:

(a) deliveries per second: webhooks.services.deliver for --messages messages of one endpoint, each a claim, a signed
    POST to a local threaded HTTP receiver and the attempt's bookkeeping, one worker (sequential) and as many
    workers as the endpoint's in-flight cap (threads, each with its own connection);
(b) the floor of (a): the same signed POST alone (requests, new connection each time), sequential;
(c) the added cost per redemption of one subscribed endpoint: giftcards.services.redeem for --redemptions
    recipients of a client without any endpoint, then of one with an endpoint subscribed to gift_card.claimed,
    alternating in batches so noise hits both alike; the medians per call side by side. With the endpoint each
    claim also writes its outbox row and, on commit, publishes the delivery task (to this benchmark's own broker
    database, which no worker reads and which is emptied after).

    python -m bench.webhooks [--messages 500] [--redemptions 1000] [--batches 10]
"""

import argparse
import os
import statistics
import threading
import time
from datetime import UTC, datetime

import redis

from bench import common

CACHE_DB, BROKER_DB = 4, 3  # apart from the other benchmarks' and the test suite's
os.environ["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = "true"  # the receiver is on this machine
common.setup_django("mobul_bench_webhooks", redis_db=CACHE_DB, broker_db=BROKER_DB)

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics.partitions import ensure_partitions  # noqa: E402
from campaigns.choices import CampaignStatus  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from giftcards.services import redeem  # noqa: E402
from webhooks import publish  # noqa: E402
from webhooks.choices import EventType, MessageStatus  # noqa: E402
from webhooks.models import WebhookMessage  # noqa: E402
from webhooks.services import create_endpoint, deliver, signed_headers, signing_secrets  # noqa: E402
from webhooks.tests.receivers import start_receiver  # noqa: E402

TABLES = ("webhook_deliveries", "webhook_messages", "webhook_endpoints", "gift_card_logs", "gift_cards", "recipients",
          "events", "recipient_stages", "campaign_daily_stats", "campaign_daily_funnel", "event_rollup_queue")
PAYLOAD = {"gift_card_id": 123456, "pool_id": 12, "recipient_id": 987654, "campaign_id": 42, "channel": "web",
           "claimed_at": datetime(2026, 12, 4, tzinfo=UTC)}


def _client_campaign(slug):
    client = common.bench_client(f"bench-webhooks-{slug}", f"Benchmarks: webhooks {slug}")
    pool = common.bench_pool(client, "Bench pool")
    campaign, _ = Campaign.objects.get_or_create(
        client=client, name="Bench: webhooks", defaults={"status": CampaignStatus.ACTIVE, "gift_card_pool": pool})
    return client, pool, campaign


def _publish(client, count):
    with transaction.atomic():
        return [publish(client_id=client.pk, event_type=EventType.GIFT_CARD_CLAIMED, data=PAYLOAD)[0]
                for _ in range(count)]


def _deliver_all(message_ids, workers):
    """Seconds to deliver every message with `workers` threads taking them in turn, as worker processes would."""
    pending = list(reversed(message_ids))
    lock = threading.Lock()

    def work():
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    message_id = pending.pop()
                if deliver(message_id=message_id) is None:  # the endpoint was at its cap: taken again later
                    with lock:
                        pending.insert(0, message_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def measure_deliveries(messages):
    common.empty_tables(*TABLES)
    cache.clear()
    receiver = start_receiver()
    try:
        client, _, _ = _client_campaign("deliveries")
        endpoint, _ = create_endpoint(client=client, url=receiver.url, event_types=[EventType.GIFT_CARD_CLAIMED])
        runs = {}
        for workers in (1, settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT):
            ids = _publish(client, messages)
            seconds = _deliver_all(ids, workers)
            delivered = WebhookMessage.objects.filter(pk__in=ids, status=MessageStatus.DELIVERED).count()
            if delivered != messages:
                raise SystemExit(f"only {delivered} of {messages} messages were delivered")
            runs[workers] = messages / seconds
            print(f"(a) {messages:,} deliveries, {workers} worker(s): {runs[workers]:,.0f}/s")
        # (b) the POST alone, signed the same way, to the same receiver.
        message = WebhookMessage.objects.filter(endpoint=endpoint).first()
        keys = signing_secrets(endpoint, timezone.now())
        started = time.perf_counter()
        for _ in range(messages):
            with requests.Session() as session:
                session.post(receiver.url, data=message.body.encode(),
                             headers=signed_headers(message, keys, timezone.now()), timeout=(3, 10)).close()
        floor = messages / (time.perf_counter() - started)
        print(f"(b) {messages:,} signed POSTs alone: {floor:,.0f}/s")
    finally:
        receiver.stop()
    return {"messages": messages, "per_second_1_worker": runs[1],
            "per_second_at_cap": runs[settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT],
            "workers_at_cap": settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT, "floor_posts_per_second": floor,
            "sequential_vs_floor": runs[1] / floor}


def _tokens(campaign, count):
    with connection.cursor() as cursor:
        tokens = common.insert_recipients(cursor, campaign.pk, count, f"bench-webhooks-{campaign.pk}")
        common.copy_cards(cursor, common.card_rows(campaign.gift_card_pool_id, (
            f"WH{campaign.pk:04d}{n:012d}" for n in range(count))))
    return tokens


def measure_redemptions(redemptions, batches, broker):
    common.empty_tables(*TABLES)
    cache.clear()
    quiet, _, quiet_campaign = _client_campaign("none")
    subscribed, _, subscribed_campaign = _client_campaign("subscribed")
    create_endpoint(client=subscribed, url="http://127.0.0.1:9/never-called", event_types=[EventType.GIFT_CARD_CLAIMED])
    tokens = {"none": _tokens(quiet_campaign, redemptions), "subscribed": _tokens(subscribed_campaign, redemptions)}
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
    times = {"none": [], "subscribed": []}
    size = max(1, redemptions // batches)
    for start in range(0, redemptions, size):
        for mode in ("none", "subscribed"):
            for token in tokens[mode][start:start + size]:
                began = time.perf_counter()
                redeem(token=token)
                times[mode].append(time.perf_counter() - began)
    outbox = WebhookMessage.objects.filter(endpoint__client=subscribed).count()
    if outbox != redemptions or WebhookMessage.objects.filter(client=quiet).exists():
        raise SystemExit(f"expected {redemptions} outbox rows for the subscribed client, found {outbox}")
    broker.flushdb()
    none_ms, subscribed_ms = (statistics.median(times[mode]) * 1000 for mode in ("none", "subscribed"))
    print(f"(c) redemption median: {none_ms:.3f} ms without an endpoint, {subscribed_ms:.3f} ms with one subscribed "
          f"({subscribed_ms / none_ms:.2f} ×, +{subscribed_ms - none_ms:.3f} ms)")
    return {"redemptions": redemptions, "median_ms_no_endpoint": none_ms, "median_ms_one_endpoint": subscribed_ms,
            "added_ms": subscribed_ms - none_ms, "ratio": subscribed_ms / none_ms}


def report_rows(figures):
    deliveries, redemptions = figures["deliveries"], figures["redemption"]
    return [
        common.report_row("webhook deliveries to a local receiver, 1 worker", round(deliveries["per_second_1_worker"]),
                          "deliveries/s", floor=round(deliveries["floor_posts_per_second"]),
                          floor_name="the signed POST alone", ratio=deliveries["sequential_vs_floor"]),
        common.report_row(f"webhook deliveries, {deliveries['workers_at_cap']} workers (one endpoint's cap)",
                          round(deliveries["per_second_at_cap"]), "deliveries/s"),
        common.report_row("redemption with 1 subscribed webhook endpoint (median)",
                          round(redemptions["median_ms_one_endpoint"], 3), "ms",
                          floor=round(redemptions["median_ms_no_endpoint"], 3), floor_name="no endpoint",
                          ratio=redemptions["ratio"]),
    ]


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500, help="messages delivered per run of (a)")
    parser.add_argument("--redemptions", type=int, default=1_000, help="redemptions per mode in (c)")
    parser.add_argument("--batches", type=int, default=10, help="alternating batches of (c)")
    args = parser.parse_args()
    started = time.perf_counter()
    common.prepare_database()
    ensure_partitions()  # claims record an event
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    figures = {"deliveries": measure_deliveries(args.messages),
               "redemption": measure_redemptions(args.redemptions, args.batches, broker)}
    common.empty_tables(*TABLES)
    broker.flushdb()
    figures.update(database=connection.settings_dict["NAME"], cpus=os.cpu_count(),
                   finished_at=timezone.now().isoformat(timespec="seconds"), total_seconds=time.perf_counter() - started)
    path = common.write_results("webhooks", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds']:.0f} s. Figures: {path}")


if __name__ == "__main__":
    main()
