"""Mail-piece rendering benchmark, in one run:

(a) the Mobul renderer (mailpieces.render) on a campaign's real recipients, read from the database in chunks of
    1,000 pieces, each chunk one PDF file (front then back of each piece), as a print run renders them;
(b) the floor: WeasyPrint alone rendering the same pieces' final HTML (merged, QR codes in, Mobul's stylesheet
    inlined, the logo from a local file), read from prepared files of as many pieces as (a) lays out at once
    (mailpieces.render.DOCUMENT_PIECES), each to a PDF of its own: no Django, no ORM, no merging, no joining.

Each run is a fresh process; rates are pieces per CPU-second of that process (one process is one core), so a
busy machine slows the wall clock, not the figure. (a) and (b) alternate on the same pieces and their medians are
compared. Then (a) alone on runs of increasing size shows the peak memory (VmHWM) flat however many pieces.

(c) a print run end to end (mailpieces.print_runs) of campaigns of each --print-runs size: chunks planned, every
    piece rendered and preflighted (QR codes decoded from the printed pages included), each chunk's PDF, manifest
    and findings stored, the run's files joined; what the run adds to (a) is the preflight and the storage.

Goals: (a) ≥ 0.8 × (b) pieces per second per core; peak memory of (a) and of (c) < 400 MB at every size.

    python -m bench.render [--pieces 5000] [--repeat 3] [--sizes 1000,5000,20000,100000] [--print-runs 5000,20000]
"""

import argparse
import os
import statistics
import time

from bench import common

common.setup_django(database="mobul_bench_render")

from django.core.files.base import ContentFile  # noqa: E402  (the settings must be set up first)
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

CHUNK = 1_000
GOAL_VS_FLOOR, GOAL_PEAK_MB = 0.8, 400
LOGO_PX = 900
FRONT = """<style>
.mobul-front .band { position: absolute; left: 0; top: 0; width: 100%; height: 2.2in; background: #0b4f6c; }
.mobul-front h1 { position: absolute; left: 0.5in; top: 0.45in; width: 5.5in; margin: 0; color: white;
  font: bold 26pt "DejaVu Sans"; }
.mobul-front .logo { position: absolute; right: 0.5in; top: 0.4in; width: 1.4in; }
.mobul-front .offer { position: absolute; left: 0.5in; top: 2.6in; width: 5in; font: 12pt/1.4 "DejaVu Serif"; }
.mobul-front .qr { position: absolute; right: 0.6in; bottom: 0.6in; width: 1.3in; height: 1.3in; }
.mobul-front .qr svg { width: 1.3in; height: 1.3in; }
.mobul-back .letter { position: absolute; left: 0.5in; top: 0.5in; width: 3.9in; font: 10pt/1.35 "DejaVu Sans"; }
</style>
<div class="band"></div><h1>{{ first_name }}, your smile deserves this</h1>
<img class="logo" src="asset:logo">
<div class="offer"><p>Book a whitening visit before the end of {{ campaign_name }} and get a $50 gift card.</p>
<p>Scan the code or visit <b>{{ purl }}</b> and enter <b>{{ short_code }}</b>.</p></div>
<div class="qr">{{ qr_code }}</div>"""
BACK = """<div class="letter"><p>Dear {{ full_name }},</p>
<p>Thank you for being part of our practice. This winter we are offering our patients in {{ city }} a
professional whitening session at a special price, with a gift card once you visit.</p>
<p>Call us or scan the code on the front to book. We look forward to seeing you.</p>
<p>The team at Acme Dental</p></div>"""


def prepare(pieces):
    """The benchmark's campaign with `pieces` recipients, made on the first run and reused."""
    from campaigns.models import Campaign, MailTemplate, Recipient

    client = common.bench_client("bench-render", "Benchmarks: rendering")
    template, _ = MailTemplate.objects.update_or_create(
        client=client, name="Bench postcard", defaults={"size": "6x9", "front_html": FRONT, "back_html": BACK})
    campaign, _ = Campaign.objects.update_or_create(client=client, name="Bench: rendering",
                                                    defaults={"template": template})
    if Recipient.objects.filter(campaign=campaign).count() < pieces:
        Recipient.all_objects.filter(campaign=campaign).delete()
        with connection.cursor() as cursor:
            common.insert_recipients(cursor, campaign.pk, pieces, "bench-render")
    return campaign.pk


def prepare_print_campaign(render_campaign_id, pieces):
    """The print-run benchmark's campaign (approved, the same template), holding exactly `pieces` recipients."""
    from campaigns.choices import CampaignStatus
    from campaigns.models import Campaign, Recipient

    template = Campaign.objects.get(pk=render_campaign_id).template
    campaign, _ = Campaign.objects.update_or_create(
        client=template.client, name="Bench: print run",
        defaults={"template": template, "status": CampaignStatus.APPROVED})
    if Recipient.objects.filter(campaign=campaign).count() != pieces:
        Recipient.all_objects.filter(campaign=campaign).delete()
        with connection.cursor() as cursor:
            common.insert_recipients(cursor, campaign.pk, pieces, "bench-print")
    return campaign.pk


def store_logo(campaign_id):
    """The template's logo, stored anew in the scratch folder's media (which each run starts empty)."""
    from campaigns.models import Campaign
    from mailpieces.models import TemplateAsset
    from mailpieces.tests.factories import png_bytes

    client = Campaign.objects.get(pk=campaign_id).client
    TemplateAsset.objects.filter(client=client, name="logo").delete()
    TemplateAsset(client=client, name="logo").image.save("logo.png", ContentFile(png_bytes(LOGO_PX, LOGO_PX)))


def _cpu_seconds():
    times = os.times()
    return times.user + times.system


def _chunks(campaign, pieces):
    """The campaign's first `pieces` recipients, CHUNK at a time, read by key as a print run reads them."""
    from campaigns.models import Recipient

    last, left = 0, pieces
    while left > 0:
        chunk = list(Recipient.objects.filter(campaign=campaign, pk__gt=last).order_by("pk")[:min(CHUNK, left)])
        if not chunk:
            return
        yield chunk
        last, left = chunk[-1].pk, left - len(chunk)


def _render_in_child(campaign_id, pieces):
    """(a), in the fresh process: every chunk into its PDF file, timed from the first query."""
    from campaigns.models import Campaign
    from mailpieces.render import MailPieceRenderer

    started, cpu = time.perf_counter(), _cpu_seconds()
    campaign = Campaign.objects.select_related("template").get(pk=campaign_id)
    renderer = MailPieceRenderer(campaign)
    rendered, path = 0, common.WORK_DIR / f"pieces-{os.getpid()}.pdf"
    for chunk in _chunks(campaign, pieces):
        with open(path, "wb") as handle:
            renderer.write_pdf(chunk, handle)
        rendered += len(chunk)
    path.unlink(missing_ok=True)
    return {"pieces": rendered, "cpu_seconds": _cpu_seconds() - cpu, "seconds": time.perf_counter() - started,
            "peak_mb": common.peak_memory_mb()}


def _print_run_in_child(campaign_id):
    """(c), in the fresh process: a whole print run, its task run here as the commit that queues it happens."""
    from campaigns.models import Campaign
    from mailpieces.choices import PrintRunStatus
    from mailpieces.models import PrintRun
    from mailpieces.print_runs import start_print_run
    from mobul.celery import app

    app.conf.task_always_eager = True
    started, cpu = time.perf_counter(), _cpu_seconds()
    run = start_print_run(campaign=Campaign.objects.get(pk=campaign_id))
    run.refresh_from_db()
    if run.status != PrintRunStatus.COMPLETED:
        raise RuntimeError(f"The print run ended {run.status}: {run.error_message}")
    figures = {"pieces": run.pieces_done, "files": run.chunks_done, "findings": run.findings_total,
               "cpu_seconds": _cpu_seconds() - cpu, "seconds": time.perf_counter() - started,
               "peak_mb": common.peak_memory_mb()}
    PrintRun.objects.filter(pk=run.pk).delete()  # its chunks go with it; the next run of the campaign may start
    return figures


def _floor_in_child(html_paths):
    """(b), in the fresh process: WeasyPrint alone on each prepared chunk's HTML."""
    import weasyprint

    started, cpu = time.perf_counter(), _cpu_seconds()
    path = common.WORK_DIR / f"floor-{os.getpid()}.pdf"
    for html_path in html_paths:
        weasyprint.HTML(filename=html_path).write_pdf(path)
    path.unlink(missing_ok=True)
    return {"cpu_seconds": _cpu_seconds() - cpu, "seconds": time.perf_counter() - started,
            "peak_mb": common.peak_memory_mb()}


def write_floor_html(campaign_id, pieces, folder):
    """The final HTML of each chunk of the first `pieces` pieces, as (a) hands it to WeasyPrint, made untimed."""
    from campaigns.models import Campaign
    from mailpieces.render import DOCUMENT_PIECES, MailPieceRenderer, stylesheet_css

    campaign = Campaign.objects.select_related("template").get(pk=campaign_id)
    renderer = MailPieceRenderer(campaign)
    logo = folder / "logo.png"
    asset = campaign.client.template_assets.get(name="logo")
    with asset.image.open("rb") as handle:
        logo.write_bytes(handle.read())
    inlined = f"<style>{stylesheet_css(renderer.layout)}</style>"
    paths = []
    documents = (chunk[start:start + DOCUMENT_PIECES] for chunk in _chunks(campaign, pieces)
                 for start in range(0, len(chunk), DOCUMENT_PIECES))
    for number, document in enumerate(documents):
        markup = renderer.document_html([renderer.sides_html(renderer.merge_values(r)) for r in document])
        markup = markup.replace("<head>", f"<head>{inlined}", 1).replace("asset:logo", logo.as_uri())
        path = folder / f"floor-{number}.html"
        path.write_text(markup, encoding="utf-8")
        paths.append(str(path))
    return paths


def measure(campaign_id, pieces, repeat, sizes, print_runs):
    with common.scratch_folder() as folder:
        store_logo(campaign_id)
        floor_html = write_floor_html(campaign_id, pieces, folder)
        mobul_runs, floor_runs, loads = [], [], []
        for run in range(1, repeat + 1):
            mobul_runs.append(common.in_fresh_process(_render_in_child, campaign_id, pieces))
            floor_runs.append(common.in_fresh_process(_floor_in_child, floor_html))
            loads.append(os.getloadavg()[0])
            print(f"Run {run}/{repeat}, {pieces:,} pieces: Mobul {pieces / mobul_runs[-1]['cpu_seconds']:.1f} "
                  f"pieces/CPU-s ({mobul_runs[-1]['seconds']:.0f} s), floor "
                  f"{pieces / floor_runs[-1]['cpu_seconds']:.1f} pieces/CPU-s ({floor_runs[-1]['seconds']:.0f} s); "
                  f"load average {loads[-1]:.1f}", flush=True)
        scaling = []
        for size in sizes:
            scaling.append(common.in_fresh_process(_render_in_child, campaign_id, size))
            loads.append(os.getloadavg()[0])
            print(f"{size:,} pieces: {size / scaling[-1]['cpu_seconds']:.1f} pieces/CPU-s, peak "
                  f"{scaling[-1]['peak_mb']:.0f} MB ({scaling[-1]['seconds']:.0f} s)", flush=True)
        runs = []
        for size in print_runs:
            runs.append(common.in_fresh_process(_print_run_in_child, prepare_print_campaign(campaign_id, size)))
            loads.append(os.getloadavg()[0])
            print(f"print run of {size:,} pieces: {size / runs[-1]['cpu_seconds']:.1f} pieces/CPU-s, peak "
                  f"{runs[-1]['peak_mb']:.0f} MB ({runs[-1]['seconds']:.0f} s, {runs[-1]['files']} files)", flush=True)
    return {"mobul_runs": mobul_runs, "floor_runs": floor_runs, "scaling": scaling, "print_runs": runs,
            "load_averages": loads}


def summarize(pieces, repeat, sizes, measured):
    rate = {
        "mobul": statistics.median(pieces / run["cpu_seconds"] for run in measured["mobul_runs"]),
        "floor": statistics.median(pieces / run["cpu_seconds"] for run in measured["floor_runs"]),
    }
    ratio = rate["mobul"] / rate["floor"]
    peaks = {run["pieces"]: run["peak_mb"] for run in measured["scaling"]}
    worst = max(peaks.values())
    print_run_peaks = {run["pieces"]: run["peak_mb"] for run in measured["print_runs"]}
    return {
        "pieces": pieces, "repeat": repeat, "sizes": sizes, "chunk": CHUNK, **measured,
        "pieces_per_cpu_second": rate, "ratio_vs_floor": ratio, "peak_memory_mb": peaks,
        "print_run_peak_memory_mb": print_run_peaks,
        "goals": [
            {"goal": f"(a) ≥ {GOAL_VS_FLOOR} × (b) pieces/s per core", "measured": f"{ratio:.2f} ×",
             "passed": ratio >= GOAL_VS_FLOOR},
            {"goal": f"peak memory of (a) < {GOAL_PEAK_MB} MB at every size", "measured": f"{worst:.0f} MB",
             "passed": worst < GOAL_PEAK_MB},
            *([{"goal": f"peak memory of (c) < {GOAL_PEAK_MB} MB at every size",
                "measured": f"{max(print_run_peaks.values()):.0f} MB",
                "passed": max(print_run_peaks.values()) < GOAL_PEAK_MB}] if print_run_peaks else []),
        ],
        "database": connection.settings_dict["NAME"], "cpus": os.cpu_count(),
        "finished_at": timezone.now().isoformat(timespec="seconds"),
    }


def report(figures):
    rate = figures["pieces_per_cpu_second"]
    print(f"\nRendering {figures['pieces']:,} 6×9 postcards in chunks of {CHUNK:,}: median of {figures['repeat']} "
          "run(s) each")
    print(f"{'':36}{'pieces/CPU-s':>14}")
    print(f"{'(a) Mobul renderer, from the DB':36}{rate['mobul']:>14.1f}")
    print(f"{'(b) WeasyPrint on the static HTML':36}{rate['floor']:>14.1f}")
    print(f"\n{'run size':>10}{'pieces/CPU-s':>14}{'peak MB':>10}")
    for run in figures["scaling"]:
        print(f"{run['pieces']:>10,}{run['pieces'] / run['cpu_seconds']:>14.1f}{run['peak_mb']:>10.0f}")
    if figures["print_runs"]:
        print(f"\n{'print run':>10}{'pieces/CPU-s':>14}{'peak MB':>10}{'files':>7}{'findings':>10}   vs (a)")
        for run in figures["print_runs"]:
            piece_rate = run["pieces"] / run["cpu_seconds"]
            print(f"{run['pieces']:>10,}{piece_rate:>14.1f}{run['peak_mb']:>10.0f}{run['files']:>7}"
                  f"{run['findings']:>10}   {piece_rate / rate['mobul']:.2f} ×")
    print(f"\n{'goal':52}{'measured':>10}  result")
    for goal in figures["goals"]:
        print(f"{goal['goal']:52}{goal['measured']:>10}  {'PASS' if goal['passed'] else 'FAIL'}")


def report_rows(figures):
    rate, goals = figures["pieces_per_cpu_second"], figures["goals"]
    rows = [common.report_row(f"render {figures['pieces']:,} postcards: pieces/s per core", round(rate["mobul"], 1),
                              "pieces/s", floor=round(rate["floor"], 1), floor_name="WeasyPrint on static HTML",
                              ratio=figures["ratio_vs_floor"], goal=f"≥ {GOAL_VS_FLOOR} × floor",
                              passed=goals[0]["passed"])]
    for run in figures["scaling"]:
        rows.append(common.report_row(f"render {run['pieces']:,} postcards: peak memory", round(run["peak_mb"]), "MB",
                                      goal=f"< {GOAL_PEAK_MB} MB", passed=run["peak_mb"] < GOAL_PEAK_MB))
    for run in figures["print_runs"]:
        label = f"print run of {run['pieces']:,} postcards (render + preflight + storage)"
        rows.append(common.report_row(f"{label}: pieces/s per core", round(run["pieces"] / run["cpu_seconds"], 1),
                                      "pieces/s"))
        rows.append(common.report_row(f"{label}: peak memory", round(run["peak_mb"]), "MB",
                                      goal=f"< {GOAL_PEAK_MB} MB", passed=run["peak_mb"] < GOAL_PEAK_MB))
    return rows


def main():
    parser = argparse.ArgumentParser(
        prog="python -m bench.render", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pieces", type=int, default=5_000, help="pieces of each (a) / (b) run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and of (b); their medians count")
    parser.add_argument("--sizes", default="1000,5000,20000,100000", help="run sizes of the memory runs")
    parser.add_argument("--print-runs", default="5000,20000",
                        help="campaign sizes of the end-to-end print runs (c); empty for none")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print_runs = [int(size) for size in args.print_runs.split(",") if size]
    started = time.perf_counter()
    common.prepare_database()
    campaign_id = prepare(max([args.pieces, *sizes]))
    figures = summarize(args.pieces, args.repeat, sizes,
                        measure(campaign_id, args.pieces, args.repeat, sizes, print_runs))
    figures["total_seconds"] = time.perf_counter() - started
    report(figures)
    path = common.write_results("render", figures, rows=report_rows(figures))
    print(f"\nThe whole benchmark took {figures['total_seconds'] / 60:.1f} min. Figures: {path}")


if __name__ == "__main__":
    main()
