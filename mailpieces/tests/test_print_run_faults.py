"""A print run whose Celery worker is killed with SIGKILL in the middle, resumed by the sweeper in a new worker:
what must hold is that no piece is missing or doubled, chunks stored before the crash are not rendered again, and
what the dead attempt left of its chunk is replaced."""

import csv
import io
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pypdfium2
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from mailpieces.choices import PrintChunkStatus, PrintRunStatus
from mailpieces.models import PrintRun, PrintRunChunk
from mailpieces.print_runs import chunk_file_name
from mailpieces.tests.factories import add_recipient, campaign_with
from mobul.tests.processes import (  # noqa: F401  (redis_server: the fixture)
    Worker,
    app_environment,
    database_url,
    declare_queues,
    redis_server,
    run_in_app_process,
    send_task,
    wait_for,
    wait_until_consuming,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PIECES, CHUNK = 7, 2  # four files: 2, 2, 2 and 1 pieces
# The print-run settings in the processes these tests start: dead after three silent seconds.
FAST_SWEEPER = {"PRINT_RUN_CHUNK_PIECES": str(CHUNK), "PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS": "3",
                "PRINT_RUN_REQUEUE_SECONDS": "1", "PRINT_RUN_MAX_ATTEMPTS": "3"}


@pytest.fixture
def campaign(tenant_a):
    campaign = campaign_with(tenant_a.client)
    for n in range(PIECES):
        add_recipient(campaign, n)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.APPROVED)
    return campaign


def run_of(campaign):
    return PrintRun.objects.get(campaign=campaign)


@contextmanager
def chunk_locked(campaign, number):
    """Holds chunk `number`'s row lock once the run has planned its chunks: the worker stops when it gets there."""
    wait_for(lambda: PrintRunChunk.objects.filter(run__campaign=campaign, number=number).exists(),
             "the run did not plan its chunks")
    with psycopg.connect(database_url()) as holder:
        holder.execute("SELECT attempts FROM print_run_chunks WHERE run_id = %s AND number = %s FOR UPDATE",
                       [run_of(campaign).pk, number])
        yield
        holder.rollback()


def blocked_on_a_chunk():
    # A connection of its own: pg_stat_activity is read once per transaction.
    with psycopg.connect(database_url(), autocommit=True) as probe:
        return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                             ["%print_run_chunks%"]).fetchone()[0] > 0


def test_a_run_whose_worker_is_killed_mid_run_resumes_with_no_piece_missing_or_doubled(campaign, redis_server):
    environment = app_environment(redis_server, **FAST_SWEEPER)
    declare_queues(redis_server)
    run_in_app_process(environment, (
        "from campaigns.models import Campaign\n"
        "from mailpieces.print_runs import start_print_run\n"
        f"start_print_run(campaign=Campaign.objects.get(pk={campaign.pk}))\n"
    ))
    worker = Worker(environment)
    try:
        wait_until_consuming(redis_server)
        with chunk_locked(campaign, 3):
            wait_for(blocked_on_a_chunk, "the worker did not reach chunk 3")
            worker.kill()
    finally:
        worker.stop()
    run = run_of(campaign)
    chunks = list(run.chunks.order_by("number").values_list("status", "attempts"))
    assert run.status == PrintRunStatus.RUNNING and run.attempts == 1
    assert chunks[:2] == [(PrintChunkStatus.DONE, 1)] * 2
    assert [status for status, _ in chunks[2:]] == [PrintChunkStatus.PENDING] * 2
    # What a dead attempt may leave behind: its chunk's file half written, its row not done.
    default_storage.save(chunk_file_name(run, 3), ContentFile(b"%PDF-1.7 truncated"))
    wait_for(lambda: timezone.now() - run_of(campaign).heartbeat_at > timedelta(seconds=4),
             "the heartbeat did not go stale", seconds=10)

    worker = Worker(environment)
    try:
        wait_until_consuming(redis_server)
        send_task(redis_server, "mailpieces.print_run_tasks.sweep_print_runs")  # beat's minutely run
        wait_for(lambda: run_of(campaign).status == PrintRunStatus.COMPLETED, "the resumed run did not finish",
                 seconds=120)
    finally:
        worker.stop()
    run = run_of(campaign)
    assert (run.attempts, run.pieces_done, run.chunks_done, run.progress_percent) == (2, PIECES, 4, 100)
    # Chunks stored before the crash were not rendered again; chunk 3 was, once more.
    assert list(run.chunks.order_by("number").values_list("attempts", flat=True))[:2] == [1, 1]
    assert run.chunks.get(number=3).attempts == 2

    pages = []
    for chunk in run.chunks.order_by("number"):
        with default_storage.open(chunk.file, "rb") as handle:
            pdf = pypdfium2.PdfDocument(handle.read())
        pages.append(len(pdf))
        pdf.close()
    assert pages == [4, 4, 4, 2]
    with default_storage.open(run.manifest, "rb") as handle:
        manifest = list(csv.DictReader(io.StringIO(handle.read().decode())))
    assert [int(row["recipient_id"]) for row in manifest] == list(
        campaign.recipients.order_by("pk").values_list("pk", flat=True))
