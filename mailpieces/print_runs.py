"""Print runs: a whole campaign rendered into print-ready PDF files for the vendor, with the data manifest it needs
and every piece's preflight findings, resumable after a worker crash with no piece missing or doubled.

    pending --claim--> running --finish--> completed | failed
       ^                  | heartbeat stale: its worker died
       +---- sweeper -----+  (or failed, once one chunk was started PRINT_RUN_MAX_ATTEMPTS times)

The first claim plans the chunks, once and in one transaction: the campaign's live recipients in id order, cut
into id ranges of chunk_pieces. They never change, so every attempt renders the same pieces into the same files.
A chunk is rendered whole (DOCUMENT_PIECES per WeasyPrint document, each preflighted as it comes), its files are
stored under fixed names (overwriting what a dead attempt left), and only then is its row marked done: a resumed
run renders again exactly the chunks whose row is not done. The run's heartbeat is beaten after each document.

A run owns its chunks through the attempt it claimed (the pattern of campaigns/jobs.py): its heartbeat, its chunks
and its finish touch the run only while that attempt is the run's and the run is running, so a run given up for
dead (a frozen worker) cannot overwrite its successor's bookkeeping.
"""

import csv
import io
import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, Sum
from django.http import FileResponse, HttpResponseRedirect
from django.utils import timezone

from accounts.access import request_actor
from accounts.choices import AuditAction
from accounts.services import record_audit
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, Recipient
from mobul.celery import after_commit
from mobul.storage import presigns

from .choices import ACTIVE_PRINT_RUN_STATUSES, PrintChunkStatus, PrintRunStatus, Side
from .exceptions import CampaignNotPrintable, PrintFileNotFound, PrintRunActive, TemplateError
from .models import PrintRun, PrintRunChunk

logger = logging.getLogger(__name__)

# Approved or later: the proof is approved, so the template and the list are frozen (campaigns.choices).
PRINTABLE_CAMPAIGN_STATUSES = frozenset({
    CampaignStatus.APPROVED, CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED,
    CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.COMPLETED,
})
ADDRESS_LINES = 5  # company, two street lines, city-state-ZIP, country: the block's lines after the name
MANIFEST_HEADER = ["file", "page_front", "page_back", "recipient_id", "name",
                   *[f"address_line_{n}" for n in range(1, ADDRESS_LINES + 1)], "purl", "short_code", "qr_url"]
FINDINGS_HEADER = ["file", "page", "recipient_id", "side", "kind", "message"]


class PrintRunTakenOver(Exception):
    """The run is no longer this attempt's: the sweeper gave it up for dead and perhaps another attempt has it."""


def start_print_run(*, campaign, request=None):
    """A pending print run of `campaign` (approved or later, none under way), queued once the transaction commits."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in PRINTABLE_CAMPAIGN_STATUSES:
            raise CampaignNotPrintable(
                f"The campaign is {campaign.get_status_display().lower()}: only an approved campaign is rendered "
                "for print. Approve its proof first.")
        if campaign.template_id is None:
            raise CampaignNotPrintable("The campaign has no template to render.", field="template")
        active = PrintRun.objects.filter(campaign=campaign, status__in=ACTIVE_PRINT_RUN_STATUSES).first()
        if active is not None:
            raise _already_active(active)
        user, api_key = request_actor(request)
        try:
            with transaction.atomic():
                run = PrintRun.objects.create(campaign=campaign, chunk_pieces=settings.PRINT_RUN_CHUNK_PIECES,
                                              created_by=user, api_key=api_key, queued_at=timezone.now())
        except IntegrityError:  # print_runs_one_active: a run started by another way in between
            raise _already_active(PrintRun.objects.get(campaign=campaign, status__in=ACTIVE_PRINT_RUN_STATUSES))
        record_audit(action=AuditAction.CREATE, obj=run, client=campaign.client, request=request,
                     changes={"campaign": campaign.pk, "chunk_pieces": run.chunk_pieces})
        _queue(run.pk)
    return run


def _already_active(run):
    return PrintRunActive(f"Print run #{run.pk} of this campaign is {run.get_status_display().lower()}; "
                          "wait for it to finish before starting another.")


def _queue(run_id):
    from .print_run_tasks import render_print_run

    after_commit(lambda: render_print_run.delay(run_id))


def claim(run_id):
    """The pending run `run_id`, now running as this worker's attempt; None when it is not pending."""
    now = timezone.now()
    claimed = PrintRun.objects.filter(pk=run_id, status=PrintRunStatus.PENDING).update(
        status=PrintRunStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, queued_at=None)
    return PrintRun.objects.select_related("campaign__template").get(pk=run_id) if claimed else None


def _ours(run):
    return PrintRun.objects.filter(pk=run.pk, status=PrintRunStatus.RUNNING, attempts=run.attempts)


def _beat(run, **changes):
    if not _ours(run).update(heartbeat_at=timezone.now(), **changes):
        raise PrintRunTakenOver()


def run_print_run(run_id):
    """Claims the run and renders every chunk not done yet, then its manifest and findings files."""
    # WeasyPrint loads in the worker only: web processes start runs and serve their files without it.
    from .render import MailPieceRenderer

    run = claim(run_id)
    if run is None:
        return None
    try:
        chunks = _planned_chunks(run)
        done_pieces = sum(chunk.pieces for chunk in chunks if chunk.status == PrintChunkStatus.DONE)
        _beat(run, pieces_done=done_pieces)  # what a dead attempt counted of its unfinished chunk goes
        try:
            renderer = MailPieceRenderer(run.campaign)
            for chunk in chunks:
                if chunk.status != PrintChunkStatus.DONE:
                    done_pieces += _render_chunk(run, chunk, renderer, done_pieces)
        except TemplateError as error:  # the same again at every attempt: no use retrying
            return _fail(run, f"The template cannot be rendered: {error.message}")
        return _finish(run, chunks)
    except PrintRunTakenOver:
        logger.warning("print run %s was given up for dead while this attempt went on; its successor has it", run_id)
        return None


_PLAN_SQL = """
SELECT MIN(id), MAX(id), COUNT(*) FROM (
    SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS chunk
    FROM recipients WHERE campaign_id = %s AND deleted_at IS NULL
) numbered GROUP BY chunk ORDER BY chunk
"""


def _planned_chunks(run):
    """The run's chunks, planned (and stored, all at once) at its first claim."""
    chunks = list(run.chunks.order_by("number"))
    if chunks:
        return chunks
    with transaction.atomic():
        if not _ours(run).select_for_update().exists():
            raise PrintRunTakenOver()
        with connection.cursor() as cursor:
            cursor.execute(_PLAN_SQL, [run.chunk_pieces, run.campaign_id])
            ranges = cursor.fetchall()
        chunks = PrintRunChunk.objects.bulk_create([
            PrintRunChunk(run=run, number=number, first_recipient_id=first, last_recipient_id=last, pieces=pieces)
            for number, (first, last, pieces) in enumerate(ranges, start=1)])
        _beat(run, chunks_total=len(chunks), pieces_total=sum(chunk.pieces for chunk in chunks))
    return chunks


def _folder(run):
    return f"print-runs/campaign-{run.campaign_id}/run-{run.pk}"


def _prefix(run):
    return f"campaign-{run.campaign_id}-run-{run.pk}"


def chunk_file_name(run, number):
    return f"{_folder(run)}/{_prefix(run)}-part-{number:04d}.pdf"


def _part_name(run, number, what):
    return f"{_folder(run)}/parts/{number:04d}-{what}.csv"


def _store(name, content):
    """Stores `content` under exactly `name`, replacing what is there (storages give a new name otherwise)."""
    default_storage.delete(name)
    stored = default_storage.save(name, content)
    if stored != name:
        raise RuntimeError(f"The storage stored {name} as {stored}")


def manifest_row(file, piece_index, recipient, values):
    from .render import address_lines, page_index

    lines = address_lines(values)
    if values["full_name"]:
        lines = lines[1:]
    return [file, page_index(piece_index, Side.FRONT) + 1, page_index(piece_index, Side.BACK) + 1, recipient.pk,
            values["full_name"], *(lines + [""] * ADDRESS_LINES)[:ADDRESS_LINES], values["purl"],
            values["short_code"], values["qr_url"]]


def _csv_bytes(rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def _render_chunk(run, chunk, renderer, done_before):
    """Renders, preflights and stores one chunk, then marks it done; returns its pieces."""
    from .preflight import batch_findings
    from .render import page_index

    PrintRunChunk.objects.filter(pk=chunk.pk).update(attempts=F("attempts") + 1)
    recipients = list(Recipient.objects.filter(
        campaign_id=run.campaign_id, pk__gte=chunk.first_recipient_id, pk__lte=chunk.last_recipient_id,
    ).order_by("pk"))
    name = chunk_file_name(run, chunk.number)
    file = name.rsplit("/", 1)[1]
    manifest, findings, flagged = [], [], set()

    def inspect(batch, pdf):
        first = len(manifest)
        manifest.extend(manifest_row(file, first + index, recipient, values)
                        for index, (recipient, values) in enumerate(zip(batch.recipients, batch.values)))
        positions = {recipient.pk: first + index for index, recipient in enumerate(batch.recipients)}
        for finding in batch_findings(renderer, batch, pdf):
            page = page_index(positions[finding.recipient_id], finding.side) + 1
            findings.append([file, page, finding.recipient_id, finding.side, finding.kind, finding.message])
            flagged.add(finding.recipient_id)
        _beat(run, pieces_done=done_before + len(manifest))

    with tempfile.TemporaryFile() as pdf_file:
        renderer.write_pdf(recipients, pdf_file, inspect=inspect)
        _beat(run)  # still ours: a run given up for dead stores nothing more
        pdf_file.seek(0)
        _store(name, File(pdf_file, name=file))
    _store(_part_name(run, chunk.number, "manifest"), ContentFile(_csv_bytes(manifest)))
    _store(_part_name(run, chunk.number, "findings"), ContentFile(_csv_bytes(findings)))
    now = timezone.now()
    with transaction.atomic():
        _beat(run, chunks_done=F("chunks_done") + 1, pieces_done=done_before + len(recipients))
        PrintRunChunk.objects.filter(pk=chunk.pk).update(
            status=PrintChunkStatus.DONE, pieces=len(recipients), pages=2 * len(recipients), file=name,
            findings_total=len(findings), pieces_with_findings=len(flagged), done_at=now)
    return len(recipients)


def _joined(run, chunks, what, header):
    """The run's `what` file: the header, then every chunk's part in order (copied through a temporary file)."""
    name = f"{_folder(run)}/{_prefix(run)}-{what}.csv"
    with tempfile.TemporaryFile() as joined:
        joined.write(_csv_bytes([header]))
        for chunk in chunks:
            with default_storage.open(_part_name(run, chunk.number, what), "rb") as part:
                for block in iter(lambda: part.read(1 << 20), b""):
                    joined.write(block)
        joined.seek(0)
        _store(name, File(joined, name=name.rsplit("/", 1)[1]))
    return name


def _finish(run, chunks):
    manifest = _joined(run, chunks, "manifest", MANIFEST_HEADER)
    findings = _joined(run, chunks, "findings", FINDINGS_HEADER)
    totals = PrintRunChunk.objects.filter(run=run).aggregate(
        pieces=Sum("pieces"), findings=Sum("findings_total"), flagged=Sum("pieces_with_findings"))
    if not _ours(run).update(
            status=PrintRunStatus.COMPLETED, finished_at=timezone.now(), heartbeat_at=timezone.now(),
            manifest=manifest, findings=findings, pieces_total=totals["pieces"] or 0,
            pieces_done=totals["pieces"] or 0, findings_total=totals["findings"] or 0,
            pieces_with_findings=totals["flagged"] or 0):
        raise PrintRunTakenOver()
    logger.info("print run %s completed: %s pieces in %s files", run.pk, totals["pieces"] or 0, len(chunks))
    return run.pk


def _fail(run, message):
    if not _ours(run).update(status=PrintRunStatus.FAILED, finished_at=timezone.now(), error_message=message):
        raise PrintRunTakenOver()
    return None


def _gave_up_message():
    return (f"A part of the run was started {settings.PRINT_RUN_MAX_ATTEMPTS} times and its worker stopped each time "
            "before it was stored (a worker short of memory can do that). The parts stored so far are kept; start "
            "a new run, or ask support.")


def sweep(*, now=None):
    """The way out of a lost message or a dead worker: pending runs whose task is PRINT_RUN_REQUEUE_SECONDS late,
    and running runs whose heartbeat is PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS old, are queued again (as pending) and
    resume where they stopped; a dead run whose next chunk (or, before planning, the run itself) was started
    PRINT_RUN_MAX_ATTEMPTS times fails instead. Returns {"requeued": n, "failed": n}."""
    now = now or timezone.now()
    dead = Q(status=PrintRunStatus.RUNNING,
             heartbeat_at__lt=now - timedelta(seconds=settings.PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS))
    late = Q(status=PrintRunStatus.PENDING,
             queued_at__lt=now - timedelta(seconds=settings.PRINT_RUN_REQUEUE_SECONDS))
    with transaction.atomic():
        # Skips runs whose attempt is committing a chunk or its finish right now.
        stranded = list(PrintRun.objects.select_for_update(skip_locked=True).filter(dead | late).order_by("pk")
                        .values_list("pk", "status", "attempts", "chunks_total"))
        chunk_attempts = dict(PrintRunChunk.objects.filter(
            run__in=[pk for pk, *_ in stranded], status=PrintChunkStatus.PENDING,
        ).values("run").annotate(most=Max("attempts")).values_list("run", "most"))

        def starts(pk, attempts, chunks_total):
            # Before planning the run's own; then its next chunk's (none left: only its files remain to join).
            return chunk_attempts.get(pk, 0) if chunks_total else attempts

        given_up = [pk for pk, status, *counts in stranded if status == PrintRunStatus.RUNNING
                    and starts(pk, *counts) >= settings.PRINT_RUN_MAX_ATTEMPTS]
        requeued = [pk for pk, *_ in stranded if pk not in given_up]
        PrintRun.objects.filter(pk__in=given_up).update(
            status=PrintRunStatus.FAILED, finished_at=now, error_message=_gave_up_message())
        PrintRun.objects.filter(pk__in=requeued).update(status=PrintRunStatus.PENDING, queued_at=now)
        for pk in requeued:
            _queue(pk)
    for pk in given_up:
        logger.error("print run %s failed: its worker died on each of %s attempts at one chunk", pk,
                     settings.PRINT_RUN_MAX_ATTEMPTS)
    return {"requeued": len(requeued), "failed": len(given_up)}


def print_files(run):
    """[(file name, storage name, pieces or None)] a run offers for download: each stored chunk's PDF, then (once
    completed) the manifest and the findings."""
    files = [(chunk.file.rsplit("/", 1)[1], chunk.file, chunk.pieces)
             for chunk in run.chunks.filter(status=PrintChunkStatus.DONE).order_by("number")]
    for name in (run.manifest, run.findings):
        if name:
            files.append((name.rsplit("/", 1)[1], name, None))
    return files


def print_file_response(run, file):
    """The download of `file` (a name print_files lists): a redirect to a short-lived signed URL where the storage
    signs its own (S3), else the file streamed."""
    stored = next((name for listed, name, _ in print_files(run) if listed == file), None)
    if stored is None:
        raise PrintFileNotFound()
    if presigns(default_storage):
        return HttpResponseRedirect(default_storage.url(
            stored, parameters={"ResponseContentDisposition": f'attachment; filename="{file}"'}))
    return FileResponse(default_storage.open(stored, "rb"), as_attachment=True, filename=file)
