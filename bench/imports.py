"""Recipient import benchmark, on one database in one run:

(a) the full import path (campaigns.imports.run_recipient_import) of a realistic CSV;
(b) the floor: one raw COPY of exactly the rows (a) stored, already validated and normalised;
(c) Django bulk_create in batches of 1,000 of the same values, what the old platform did.

Goals: (a) takes at most 1.5 × (b), is at least 4 × faster per row than (c), and the import's process
peaks under 300 MB at any size. Every measurement starts from an empty `recipients` table; (a) and (b)
alternate so that noise hits both alike, and the medians are compared.

    python -m bench.imports [--rows 1000000] [--repeat 3] [--bulk-rows ROWS]
"""

import argparse
import csv
import os
import random
import statistics
import time

from faker import Faker

from bench import common

common.setup_django()

from django.core.files import File  # noqa: E402  (the settings must be set up first)
from django.core.files.storage import default_storage  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg import sql  # noqa: E402

from campaigns.choices import ImportErrorPolicy, ImportStatus  # noqa: E402
from campaigns.imports import COPY_COLUMNS, run_recipient_import  # noqa: E402
from campaigns.models import Campaign, ImportJob, Recipient  # noqa: E402

SEED = 2026
SMALL_ROWS = 10
BATCH_SIZE = 1_000
GOAL_VS_COPY, GOAL_VS_BULK_CREATE, GOAL_PEAK_MB = 1.5, 4, 300
HEADER = ["First Name", "Last Name", "Address", "Address 2", "City", "State", "Zip", "Phone", "Email", "Segment",
          "Member Since"]
AREA_CODES = (201, 212, 213, 214, 217, 305, 310, 312, 404, 415, 469, 503, 512, 602, 617, 646, 702, 713, 720, 786,
              801, 808, 813, 904, 919, 949)
PHONE_FORMATS = ("({area}) {exchange}-{line}", "{area}-{exchange}-{line}", "+1 {area} {exchange} {line}",
                 "{area}{exchange}{line}")
# N11 exchanges (211, 311, ... 911) are service codes, never assigned to a subscriber.
EXCHANGES = [exchange for exchange in range(200, 1000) if exchange % 100 != 11]
HOUSE_NUMBERS = 9_999
BLANK_SHARE = 0.005
# The columns bulk_create is given values for; campaign and import job are set per object.
BULK_FIELDS = [name for name in COPY_COLUMNS if name not in ("campaign_id", "import_job_id")]


def write_csv(path, rows):
    """A client's mailing list: mixed phone formats, a few blanks, every row valid and a different person."""
    fake, rng = Faker("en_US"), random.Random(SEED)
    fake.seed_instance(SEED)
    first_names = [fake.first_name() for _ in range(1_000)]
    last_names = [fake.last_name() for _ in range(1_000)]
    streets = sorted({fake.street_name() for _ in range(3_000)})
    states = [fake.state_abbr(include_territories=False, include_freely_associated_states=False)
              for _ in range(2_000)]
    places = [(fake.city(), state, fake.zipcode_in_state(state)) for state in states]
    units = [fake.secondary_address() for _ in range(200)]
    # Most people use a free mailbox, the others their company's.
    domains = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"] * 50 + [fake.domain_name() for _ in range(150)]
    if rows > len(streets) * HOUSE_NUMBERS:
        raise SystemExit(f"At most {len(streets) * HOUSE_NUMBERS:,} distinct addresses can be generated.")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            first, last = rng.choice(first_names), rng.choice(last_names)
            city, state, zip_code = rng.choice(places)
            phone = rng.choice(PHONE_FORMATS).format(
                area=rng.choice(AREA_CODES), exchange=rng.choice(EXCHANGES), line=f"{rng.randrange(10_000):04d}"
            )
            local = rng.choice((f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}")).lower()
            writer.writerow([
                first, last,
                # House number and street together are unique, so no row is a duplicate of another.
                f"{n % HOUSE_NUMBERS + 1} {streets[n // HOUSE_NUMBERS]}",
                rng.choice(units) if rng.random() < 0.15 else "",
                city, state, zip_code,
                "" if rng.random() < BLANK_SHARE else phone,
                "" if rng.random() < BLANK_SHARE else f"{local}@{rng.choice(domains)}",
                rng.choice(("gold", "silver", "bronze")),
                f"{rng.randint(2005, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            ])


def _store(path):
    with open(path, "rb") as handle:
        return default_storage.save(f"imports/bench/{path.name}", File(handle))


def _new_job(campaign, stored_name, **fields):
    return ImportJob.objects.create(
        client=campaign.client, campaign=campaign, on_error=ImportErrorPolicy.SKIP, file=stored_name,
        original_filename=stored_name, size_bytes=default_storage.size(stored_name), **fields,
    )


def _campaigns():
    """One empty campaign each for (a), (b) and (c)."""
    client = common.bench_client("bench", "Benchmarks")
    return [Campaign.objects.create(client=client, name=f"Bench: {kind}") for kind in ("import", "COPY", "bulk_create")]


def _import_in_child(job_id):
    """Runs in the fresh process: times the import alone, then reads the process's peak memory."""
    seconds, job = common.timed(run_recipient_import, ImportJob.objects.get(pk=job_id))
    return {"seconds": seconds, "peak_mb": common.peak_memory_mb(), "status": job.status,
            "rows_imported": job.rows_imported, "error_message": job.error_message}


def measure_import(campaign, stored_name, rows):
    """(a) in a fresh process, which also gives the import's own peak memory."""
    result = common.in_fresh_process(_import_in_child, _new_job(campaign, stored_name).pk)
    if result["status"] != ImportStatus.COMPLETED or result["rows_imported"] != rows:
        raise SystemExit(f"The import should have stored all {rows:,} rows: {result}")
    return result


def dump_imported_rows(path, campaign, job):
    """The rows the import stored, as COPY input for `campaign` and `job`: the floor's file, made untimed."""
    moved = {"campaign_id": sql.Literal(campaign.pk), "import_job_id": sql.Literal(job.pk)}
    columns = sql.SQL(", ").join(moved.get(name, sql.Identifier(name)) for name in COPY_COLUMNS)
    query = sql.SQL("COPY (SELECT {} FROM recipients ORDER BY id) TO STDOUT").format(columns)
    with open(path, "wb") as handle, connection.cursor() as cursor, cursor.cursor.copy(query) as copy:
        for data in copy:
            handle.write(data)


def copy_floor(path):
    """(b): streams the prepared file into one COPY, with the import's column list. Returns rows written."""
    with open(path, "rb") as handle, connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY recipients ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            while data := handle.read(1 << 20):
                copy.write(data)
        return cursor.cursor.rowcount


def bulk_create(values, campaign, job):
    """(c): builds the objects of each batch and saves them with one bulk_create, as the old platform did."""
    for start in range(0, len(values), BATCH_SIZE):
        Recipient.all_objects.bulk_create([
            Recipient(campaign=campaign, import_job=job, **dict(zip(BULK_FIELDS, row)))
            for row in values[start:start + BATCH_SIZE]
        ])


def measure(rows, repeat, bulk_rows):
    """Runs (a), (b) and (c) as the module docstring says; returns the raw figures."""
    import_campaign, copy_campaign, bulk_campaign = _campaigns()
    with common.scratch_folder() as folder:
        small_csv, full_csv, floor_file = folder / "small.csv", folder / "full.csv", folder / "floor.copy"
        seconds, _ = common.timed(write_csv, full_csv, rows)
        print(f"Generated {rows:,} rows ({full_csv.stat().st_size / 1_048_576:.0f} MB) in {seconds:.1f} s")
        write_csv(small_csv, SMALL_ROWS)
        small_name, full_name = _store(small_csv), _store(full_csv)
        full_csv.unlink()

        common.empty_tables("recipients")
        small = measure_import(import_campaign, small_name, SMALL_ROWS)
        print(f"Import of {SMALL_ROWS} rows: peak memory {small['peak_mb']:.0f} MB")

        imports, copies, loads = [], [], []
        copy_job, bulk_job = (_new_job(campaign, full_name, status=ImportStatus.COMPLETED)
                              for campaign in (copy_campaign, bulk_campaign))
        for run in range(1, repeat + 1):
            common.empty_tables("recipients")
            imports.append(measure_import(import_campaign, full_name, rows))
            if run == 1:
                dump_imported_rows(floor_file, copy_campaign, copy_job)
            common.empty_tables("recipients")
            seconds, copied = common.timed(copy_floor, floor_file)
            if copied != rows:
                raise SystemExit(f"The floor should have copied {rows:,} rows, not {copied:,}.")
            copies.append(seconds)
            # The load average shows when something else was running: the machine is shared.
            loads.append(os.getloadavg()[0])
            print(f"Run {run}/{repeat}: import {imports[-1]['seconds']:.2f} s (peak {imports[-1]['peak_mb']:.0f} MB), "
                  f"COPY {seconds:.2f} s; load average {loads[-1]:.1f}")

    # What the old platform had in hand: the values, already validated and normalised.
    values = list(Recipient.all_objects.order_by("pk").values_list(*BULK_FIELDS)[:bulk_rows])
    common.empty_tables("recipients")
    bulk_seconds, _ = common.timed(bulk_create, values, bulk_campaign, bulk_job)
    loads.append(os.getloadavg()[0])
    print(f"bulk_create of {bulk_rows:,} rows: {bulk_seconds:.2f} s; load average {loads[-1]:.1f}")
    common.empty_tables("recipients")  # leaves the benchmark database small
    return {
        "import_runs": [result["seconds"] for result in imports], "copy_runs": copies, "bulk_create_run": bulk_seconds,
        "peak_memory_mb": {"small": small["peak_mb"], "full": max(result["peak_mb"] for result in imports)},
        "load_averages": loads,
    }


def summarize(rows, repeat, bulk_rows, measured):
    seconds = {
        "import": statistics.median(measured["import_runs"]),
        "copy": statistics.median(measured["copy_runs"]),
        "bulk_create": measured["bulk_create_run"],
    }
    vs_copy = seconds["import"] / seconds["copy"]
    vs_bulk_create = (seconds["bulk_create"] / bulk_rows) / (seconds["import"] / rows)
    peak = measured["peak_memory_mb"]["full"]
    return {
        "rows": rows, "repeat": repeat, "bulk_rows": bulk_rows, "small_rows": SMALL_ROWS, **measured,
        "seconds": seconds,
        "rows_per_second": {name: (bulk_rows if name == "bulk_create" else rows) / value
                            for name, value in seconds.items()},
        "import_time_vs_copy": vs_copy,
        "bulk_create_time_per_row_vs_import": vs_bulk_create,
        "goals": [
            {"goal": f"(a) time ≤ {GOAL_VS_COPY} × (b)", "measured": f"{vs_copy:.2f} ×",
             "passed": vs_copy <= GOAL_VS_COPY},
            {"goal": f"(a) ≥ {GOAL_VS_BULK_CREATE} × faster than (c), per row", "measured": f"{vs_bulk_create:.1f} ×",
             "passed": vs_bulk_create >= GOAL_VS_BULK_CREATE},
            {"goal": f"peak memory of the import < {GOAL_PEAK_MB} MB", "measured": f"{peak:.0f} MB",
             "passed": peak < GOAL_PEAK_MB},
        ],
        "database": connection.settings_dict["NAME"],
        "cpus": os.cpu_count(),
        "finished_at": timezone.now().isoformat(timespec="seconds"),
    }


def report(figures):
    rows, bulk_rows = figures["rows"], figures["bulk_rows"]
    print(f"\nRecipient import of {rows:,} rows: median of {figures['repeat']} run(s) of (a) and of (b), "
          "one run of (c)")
    if bulk_rows < rows:
        print(f"(c) ran on {bulk_rows:,} rows only: a smaller table, cheaper index upkeep, so its rows/s is flattered.")
    print(f"{'':28}{'rows':>12}{'seconds':>10}{'rows/s':>10}")
    for label, name, count in (("(a) import, full path", "import", rows), ("(b) raw COPY, the floor", "copy", rows),
                               ("(c) bulk_create × 1,000", "bulk_create", bulk_rows)):
        print(f"{label:28}{count:>12,}{figures['seconds'][name]:>10.2f}{figures['rows_per_second'][name]:>10,.0f}")
    small, full = figures["peak_memory_mb"]["small"], figures["peak_memory_mb"]["full"]
    print(f"\nPeak memory of the import's process: {small:.0f} MB for {SMALL_ROWS} rows, {full:.0f} MB for "
          f"{rows:,} rows ({full - small:+.0f} MB)")
    print(f"\n{'goal':44}{'measured':>10}  result")
    for goal in figures["goals"]:
        print(f"{goal['goal']:44}{goal['measured']:>10}  {'PASS' if goal['passed'] else 'FAIL'}")


def report_rows(figures):
    rows, rate, goals = figures["rows"], figures["rows_per_second"], figures["goals"]
    return [
        common.report_row(f"import of {rows:,} rows: rows/s", round(rate["import"]), "rows/s", floor=round(rate["copy"]),
                          floor_name="raw COPY", ratio=figures["import_time_vs_copy"], goal=f"time ≤ {GOAL_VS_COPY} ×",
                          passed=goals[0]["passed"]),
        common.report_row(f"bulk_create × 1,000 of {figures['bulk_rows']:,} rows: rows/s", round(rate["bulk_create"]),
                          "rows/s", floor=round(rate["import"]), floor_name="the import",
                          ratio=figures["bulk_create_time_per_row_vs_import"],
                          goal=f"import ≥ {GOAL_VS_BULK_CREATE} × faster", passed=goals[1]["passed"]),
        common.report_row(f"import of {rows:,} rows: peak memory", round(figures["peak_memory_mb"]["full"]), "MB",
                          goal=f"< {GOAL_PEAK_MB} MB", passed=goals[2]["passed"]),
    ]


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.imports", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and of (b); their medians count")
    parser.add_argument("--bulk-rows", type=int, help="rows for (c), default --rows; fewer is quicker but flatters "
                        "(c): the smaller the table, the cheaper each row's index upkeep")
    args = parser.parse_args()
    bulk_rows = min(args.bulk_rows or args.rows, args.rows)
    started = time.perf_counter()
    common.prepare_database()
    common.empty_tables("recipients", "import_jobs")
    figures = summarize(args.rows, args.repeat, bulk_rows, measure(args.rows, args.repeat, bulk_rows))
    figures["total_seconds"] = time.perf_counter() - started
    report(figures)
    path = common.write_results("imports", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")


if __name__ == "__main__":
    main()
