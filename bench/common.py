"""What every benchmark needs: its own database, a scratch folder, comparable measurements, a results file.

Benchmarks empty tables between measurements, so each runs against a database of its own (`mobul_bench`,
`mobul_bench_events`, ... on the local server, or BENCH_DATABASE_URL), never the development database. On a server
shared with other people's runs, BENCH_DATABASE_SUFFIX (e.g. `_alice`) gives every benchmark database a name of
your own, so two runs never empty each other's tables.
"""

import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Generated files and stored media. A fixed path, so that worker processes find what the parent wrote.
WORK_DIR = Path(tempfile.gettempdir()) / "mobul-bench"


def setup_django(database="mobul_bench", redis_db=None, broker_db=None):
    """Points the settings at the benchmark's database and the scratch folder; call before importing models.

    A benchmark that uses the cache names a Redis database of its own: its campaign ids are the development
    database's too, so in the shared cache their cached analytics would mix. One that queues Celery tasks names
    a broker database of its own too: in the development broker, the development worker would run them.
    """
    database += os.environ.get("BENCH_DATABASE_SUFFIX", "")
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"{DEFAULT_SERVER_URL}/{database}")
    redis_url = urlsplit(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    if redis_db is not None:
        os.environ["REDIS_URL"] = urlunsplit(redis_url._replace(path=f"/{redis_db}"))
    if broker_db is not None:
        os.environ["CELERY_BROKER_URL"] = urlunsplit(redis_url._replace(path=f"/{broker_db}"))
        # Queued as in production, never run in this process.
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["MEDIA_ROOT"] = str(WORK_DIR / "media")
    # Every request is still counted, as in production, but a benchmark's volume must not be refused.
    for group in ("API", "REDEMPTION", "WEBHOOK", "LOGIN"):
        os.environ.setdefault(f"RATELIMIT_{group}", "100000000/m")
    # DEBUG keeps every query in memory, which would distort both time and memory.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mobul.settings")
    django.setup()
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    if "bench" not in name:
        raise SystemExit(f"Refusing to run against database {name!r}: benchmarks empty tables. Name it *bench*.")


def prepare_database():
    """Creates the benchmark database if it is missing and migrates it."""
    from django.core.management import call_command

    call_command("preflight", create_database=True)
    call_command("migrate", verbosity=0)


@contextmanager
def scratch_folder():
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    try:
        yield WORK_DIR
    finally:
        shutil.rmtree(WORK_DIR, ignore_errors=True)


def empty_tables(*tables):
    """Starts the next measurement from the same state: tables empty and vacuumed, WAL checkpointed."""
    from django.db import connection

    names = ", ".join(tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        cursor.execute(f"VACUUM ANALYZE {names}")
        # Otherwise the checkpoint that the previous run's WAL calls for lands in the middle of the next run.
        cursor.execute("CHECKPOINT")


def timed(function, *args):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


class SqlClock:
    """Adds up the time of the SQL statements Django runs, installed with `connection.execute_wrapper(clock)`.

    A raw psycopg COPY goes round Django's cursor wrappers, so it is not counted.
    """

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def percentile(values, percent):
    """The `percent`th percentile (1 to 99) of `values`, interpolated between the nearest two."""
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def in_fresh_process(function, *args):
    """`function(*args)` in a new interpreter, so that its time and memory are its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def peak_memory_mb():
    """This process's peak resident memory. Not ru_maxrss: on Linux it carries the parent's over fork + exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM missing from /proc/self/status")


def report_row(measurement, figure, unit, *, floor=None, floor_name="", ratio=None, goal="", passed=None):
    """One line of the project's report (`python -m bench`): a figure, the floor it is measured against, the ratio.

    `floor_name` says what the floor is (raw COPY, raw SQL, the trivial endpoint, ...); `ratio` is the one the
    goal is stated in (figure / floor, or floor / figure for times: `goal` says which, e.g. "time ≤ 1.5 × COPY");
    `passed` is None for a figure without a goal.
    """
    return {"measurement": measurement, "figure": figure, "unit": unit, "floor": floor, "floor_name": floor_name,
            "ratio": ratio, "goal": goal, "passed": passed}


RECIPIENTS_SQL = """
INSERT INTO recipients (campaign_id, first_name, last_name, company, address1, address2, city, state, postal_code,
                        country, phone, email, external_id, custom_fields, redemption_token, short_code, dedupe_hash,
                        status)
SELECT %(campaign)s, 'Pat', 'Lee', '', n || ' Bench Street', '', 'Springfield', 'IL', '62701', 'US', '', '', '', '{}',
       left(md5(%(tag)s || n), 22), %(code)s || n, n, 'mailed'
FROM generate_series(1, %(count)s) AS n
RETURNING redemption_token
"""


def insert_recipients(cursor, campaign_id, count, tag):
    """`count` mailed recipients of the campaign, generated by the server; returns their redemption tokens.
    `tag` (e.g. "bench-load") makes the tokens the benchmark's own."""
    cursor.execute(RECIPIENTS_SQL, {"campaign": campaign_id, "count": count, "tag": f"{tag}-",
                                    "code": tag.rsplit("-", 1)[-1][0].upper()})
    return [token for (token,) in cursor.fetchall()]


def write_results(name, figures, rows=None):
    """bench/results/<name>.json; `rows` (report_row dicts) are what the benchmark contributes to the report."""
    if rows is not None:
        figures = {**figures, "report_rows": rows}
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- Data every benchmark needs (Django must be set up first) --------------------------------------------

CARDS_COPY = ("COPY gift_cards (pool_id, code_encrypted, code_hash, last4, status, delivery_status, delivery_attempts,"
              " delivery_error) FROM STDIN")


def bench_client(slug, name):
    """The benchmark's own agency and client, made on the first run and reused after."""
    from accounts.choices import OrganizationKind
    from accounts.models import Client, Organization

    organization, _ = Organization.objects.get_or_create(
        slug=slug, defaults={"name": name, "kind": OrganizationKind.AGENCY}
    )
    client, _ = Client.objects.get_or_create(slug=slug, defaults={"name": name, "organization": organization})
    return client


def bench_pool(client, name):
    from giftcards.models import GiftCardPool

    pool, _ = GiftCardPool.objects.get_or_create(
        client=client, name=name, defaults={"brand": "Bench", "denomination": "10.00"}
    )
    return pool


def card_rows(pool_id, codes):
    """COPY rows of available cards with these codes, encrypted and hashed as an import stores them."""
    from giftcards.choices import DeliveryStatus, GiftCardStatus
    from giftcards.crypto import code_hash, encrypt_code, last4

    return [(pool_id, encrypt_code(code), code_hash(code), last4(code), GiftCardStatus.AVAILABLE,
             DeliveryStatus.NOT_SENT, 0, "") for code in codes]


def copy_cards(cursor, rows):
    with cursor.cursor.copy(CARDS_COPY) as copy:
        for row in rows:
            copy.write_row(row)
