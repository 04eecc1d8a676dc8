"""Every benchmark of the project in one run, and one report: `python -m bench [--quick] [--only NAME,...]`.

Each benchmark runs as `python -m bench.<name>` in a process of its own (each sets Django up for its own
database), one after the other so they do not compete for the 2 cores. The report, bench/results/report.md and
report.json, gathers the rows each benchmark contributed: each figure, its floor (raw COPY, raw SQL, the trivial
endpoint, ...) and the ratio its goal is stated in.

Contributing to the report (the interface): a benchmark module
1. is listed in SUITE below, with the arguments of its quick run (its defaults are the full run);
2. writes its figures with `common.write_results(NAME, figures, rows=[common.report_row(...), ...])`.
A benchmark that fails, or writes no rows, shows up in the report as such; the others still run.

Full sizes are the default: the goals are stated at those sizes (1,000,000-row import, 10,000,000 events, ...)
and the full run takes about an hour here. --quick runs every benchmark at a fraction of its size in a few
minutes: the same measurements and ratios, for a quick picture or a check that all still run, but a ratio at
small sizes flatters or penalises differently (fixed costs weigh more), so goals are judged on the full run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS_DIR

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Benchmark:
    name: str
    what: str
    quick: list = field(default_factory=list)


SUITE = [
    Benchmark("imports", "recipient import vs raw COPY vs bulk_create",
              ["--rows", "100000", "--repeat", "1", "--bulk-rows", "20000"]),
    Benchmark("events", "funnel from rollups vs raw events, partition pruning, drop vs delete, API ingest vs COPY",
              ["--events", "500000", "--runs", "20", "--raw-runs", "2", "--batches", "10", "--repeat", "1"]),
    Benchmark("giftcards", "bulk assignment and redemption vs the raw SQL they perform",
              ["--cards", "20000", "--redemptions", "500", "--repeat", "1"]),
    Benchmark("ops", "the request-metrics middleware's Redis write vs a PING; requests with and without it",
              ["--calls", "1000", "--requests", "300", "--repeat", "3"]),
    Benchmark("ratelimit", "redemption rate-limit check (django-ratelimit) vs the previous Lua check and the old "
              "count-then-insert SQL",
              ["--rows", "0,100000", "--checks", "200", "--repeat", "2", "--requests", "50"]),
    Benchmark("render", "mail-piece rendering from the DB vs WeasyPrint on the same static HTML; memory by run size; "
              "print runs end to end",
              ["--pieces", "1000", "--repeat", "1", "--sizes", "1000,5000", "--print-runs", "2000,5000"]),
    Benchmark("webhooks", "outbound webhook deliveries per second to a local receiver; a redemption's added cost with "
              "one subscribed endpoint", ["--messages", "300", "--redemptions", "300", "--batches", "5"]),
    Benchmark("load", "HTTP load: redemption, PURL page, template vs a constant endpoint, gunicorn + wrk",
              ["--seconds", "4", "--repeat", "1", "--recipients", "20000"]),
]


def run(benchmark, quick):
    """Runs one benchmark; returns its rows, or a row saying why there are none."""
    results = RESULTS_DIR / f"{benchmark.name}.json"
    started = time.time()
    command = [sys.executable, "-m", f"bench.{benchmark.name}", *(benchmark.quick if quick else [])]
    print(f"\n=== {benchmark.name}: {' '.join(command[1:])}", flush=True)
    exit_code = subprocess.run(command, cwd=ROOT).returncode
    seconds = time.time() - started
    if exit_code or not results.exists() or results.stat().st_mtime < started:
        return {"name": benchmark.name, "seconds": seconds, "error": f"exited with {exit_code}, no new results",
                "rows": []}
    figures = json.loads(results.read_text(encoding="utf-8"))
    rows = figures.get("report_rows")
    error = None if rows else "wrote no report rows (see bench/__main__.py: the interface)"
    return {"name": benchmark.name, "seconds": seconds, "error": error, "rows": rows or []}


def _number(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(report):
    lines = [f"# Mobul benchmarks ({report['mode']} run, {report['finished_at']})", "",
             f"Machine: {report['cpus']} CPUs, load average at the end {report['load_average']:.1f}. "
             "Each benchmark's own output and JSON (bench/results/<name>.json) have every run.", "",
             "| benchmark | measurement | figure | unit | floor | floor is | ratio | goal | result |",
             "|---|---|---:|---|---:|---|---:|---|---|"]
    for outcome in report["benchmarks"]:
        if outcome["error"]:
            lines.append(f"| {outcome['name']} | **{outcome['error']}** | | | | | | | FAIL |")
        for row in outcome["rows"]:
            result = "" if row["passed"] is None else ("PASS" if row["passed"] else "FAIL")
            ratio = f"{row['ratio']:.2f} ×" if row["ratio"] is not None else ""
            lines.append(f"| {outcome['name']} | {row['measurement']} | {_number(row['figure'])} | {row['unit']} | "
                         f"{_number(row['floor'])} | {row['floor_name']} | {ratio} | {row['goal']} | {result} |")
    lines += ["", "Durations: " + ", ".join(f"{o['name']} {o['seconds'] / 60:.1f} min" for o in report["benchmarks"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: the whole picture in a few minutes")
    parser.add_argument("--only", help="comma-separated names: " + ", ".join(b.name for b in SUITE))
    args = parser.parse_args()
    chosen = SUITE
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in SUITE}
        if unknown:
            raise SystemExit(f"Unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = [b for b in SUITE if b.name in names]
    outcomes = [run(benchmark, args.quick) for benchmark in chosen]
    report = {"mode": "quick" if args.quick else "full", "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
              "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "benchmarks": outcomes}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    text = markdown(report)
    (RESULTS_DIR / "report.md").write_text(text, encoding="utf-8")
    print("\n" + text + f"\nReport: {RESULTS_DIR / 'report.md'} and report.json")
    failed = [o["name"] for o in outcomes if o["error"]]
    if failed:
        raise SystemExit(f"These benchmarks did not complete: {', '.join(failed)}")


if __name__ == "__main__":
    main()
