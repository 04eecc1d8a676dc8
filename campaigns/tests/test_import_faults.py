"""Imports after faults, with real processes: Celery workers killed with SIGKILL in the middle of a job, and a web
server whose broker (a Redis the test started itself) is down when the upload commits.

What must hold: no job is left pending or running for ever. The sweeper queues again a job whose message was
lost or whose worker died, and a job that kills its worker every time ends failed, saying so."""

import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
import requests
from django.conf import settings
from django.utils import timezone

from campaigns.choices import ImportStatus
from campaigns.models import ImportJob, Recipient
from campaigns.tests.factories import CampaignFactory, csv_bytes, person
from mobul.tests.processes import (  # noqa: F401  (redis_server: the fixture)
    ROOT,
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
from mobul.tests.servers import free_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 50
# The import settings in the processes these tests start: a heartbeat every second, dead after three silent ones.
FAST_SWEEPER = {"IMPORT_HEARTBEAT_SECONDS": "1", "IMPORT_HEARTBEAT_TIMEOUT_SECONDS": "3",
                "IMPORT_REQUEUE_SECONDS": "1", "IMPORT_MAX_ATTEMPTS": "2"}


@pytest.fixture
def campaign(tenant_a):
    return CampaignFactory(client=tenant_a.client)


@contextmanager
def campaign_locked(campaign):
    """Holds the campaign's row lock: an import of it claims its job, then waits inside its transaction."""
    with psycopg.connect(database_url()) as holder:
        holder.execute("SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", [campaign.pk])
        yield
        holder.rollback()


def job_of(campaign):
    return ImportJob.objects.get(campaign=campaign)


def waiting_in_its_transaction(campaign, attempt):
    """The job runs as `attempt` and its worker waits for the campaign's lock, beating its heartbeat meanwhile."""
    job = ImportJob.objects.filter(campaign=campaign, status=ImportStatus.RUNNING, attempts=attempt).first()
    if job is None:
        return False
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).heartbeat_at > job.heartbeat_at,
             "the heartbeat did not advance while the import waited", seconds=10)
    return True


def given_up_for_dead(campaign):
    """Its heartbeat is older than the sweeper's IMPORT_HEARTBEAT_TIMEOUT_SECONDS in FAST_SWEEPER."""
    return timezone.now() - job_of(campaign).heartbeat_at > timedelta(seconds=4)


def upload(campaign, redis_server, environment):
    """Uploads ROWS people from a Mobul process of its own, whose broker is `redis_server`: the job's message waits
    there for a worker."""
    declare_queues(redis_server)
    data = csv_bytes([person(n) for n in range(1, ROWS + 1)])
    run_in_app_process(environment, (
        "from django.core.files.uploadedfile import SimpleUploadedFile\n"
        "from campaigns.models import Campaign\n"
        "from campaigns.services import start_recipient_import\n"
        f"start_recipient_import(campaign=Campaign.objects.get(pk={campaign.pk}), on_error='reject',"
        f" uploaded_file=SimpleUploadedFile('people.csv', {data!r}))\n"
    ))


def run_until_killed(environment, redis_server, campaign, attempt, trigger):
    """A worker that starts attempt `attempt` of the import (after `trigger()`) and is killed with SIGKILL while
    the import waits inside its transaction."""
    worker = Worker(environment)
    try:
        wait_until_consuming(redis_server)
        trigger()
        wait_for(lambda: waiting_in_its_transaction(campaign, attempt), f"attempt {attempt} did not start")
        worker.kill()
    finally:
        worker.stop()


def test_an_import_whose_worker_is_killed_mid_job_is_finished_by_the_sweeper(campaign, redis_server):
    environment = app_environment(redis_server, **FAST_SWEEPER)
    upload(campaign, redis_server, environment)
    with campaign_locked(campaign):
        run_until_killed(environment, redis_server, campaign, 1, trigger=lambda: None)
    # The killed worker's transaction died with it; its unacked message would come back only after the broker's
    # visibility timeout (an hour). The job looks running until its heartbeat goes stale.
    assert job_of(campaign).status == ImportStatus.RUNNING
    assert not Recipient.objects.filter(campaign=campaign).exists()
    wait_for(lambda: given_up_for_dead(campaign), "the heartbeat did not go stale", seconds=10)

    worker = Worker(environment)
    try:
        wait_until_consuming(redis_server)
        send_task(redis_server, "campaigns.tasks.sweep_imports")  # beat's minutely run
        wait_for(lambda: job_of(campaign).status == ImportStatus.COMPLETED, "the sweeper did not finish the import")
    finally:
        worker.stop()
    job = job_of(campaign)
    assert (job.attempts, job.rows_imported, job.progress_percent) == (2, ROWS, 100)
    assert Recipient.objects.filter(campaign=campaign).count() == ROWS


def test_an_import_that_kills_its_worker_every_time_ends_failed_and_says_why(campaign, redis_server):
    environment = app_environment(redis_server, **FAST_SWEEPER)
    upload(campaign, redis_server, environment)

    def sweep():
        wait_for(lambda: given_up_for_dead(campaign), "the heartbeat did not go stale", seconds=10)
        send_task(redis_server, "campaigns.tasks.sweep_imports")

    with campaign_locked(campaign):
        run_until_killed(environment, redis_server, campaign, 1, trigger=lambda: None)
        run_until_killed(environment, redis_server, campaign, 2, trigger=sweep)  # the sweeper hands it out again
        worker = Worker(environment)
        try:
            wait_until_consuming(redis_server)
            sweep()
            wait_for(lambda: job_of(campaign).status == ImportStatus.FAILED, "the sweeper did not give the job up")
        finally:
            worker.stop()
    job = job_of(campaign)
    assert job.attempts == 2 and job.finished_at is not None
    assert job.error_message.startswith("The import was started 2 times and its worker stopped each time")
    assert "nothing was imported" in job.error_message
    assert not Recipient.objects.filter(campaign=campaign).exists()


@contextmanager
def web_server(environment):
    """gunicorn serving Mobul on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mobul.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def answers():
        assert process.poll() is None, process.stderr.read().decode()
        try:  # a busy machine may take seconds to answer the first request
            return requests.get(f"{url}/health/", timeout=10).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        wait_for(answers, "gunicorn did not answer", seconds=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_upload_committed_while_the_broker_is_down_answers_202_and_the_sweeper_runs_it(
        tenant_a, campaign, redis_server):
    # The web process's cache (rate limits) stays up on the suite's Redis; its broker is the test's own, stopped.
    web = app_environment(redis_server, REDIS_URL=settings.CACHE_REDIS_URL, **FAST_SWEEPER)
    with web_server(web) as url:
        redis_server.stop()
        response = requests.post(
            f"{url}/api/v1/campaigns/{campaign.pk}/recipients/import/",
            headers={"Authorization": f"Bearer {tenant_a.raw_key}"},
            files={"file": ("people.csv", csv_bytes([person(n) for n in range(1, ROWS + 1)]), "text/csv")},
            timeout=60)
    assert response.status_code == 202, response.text
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == ImportStatus.PENDING  # its message never reached the broker

    redis_server.start()
    worker = Worker(app_environment(redis_server, **FAST_SWEEPER))
    try:
        wait_until_consuming(redis_server)
        send_task(redis_server, "campaigns.tasks.sweep_imports")  # beat's minutely run
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.COMPLETED,
                 "the sweeper did not queue the import")
    finally:
        worker.stop()
    assert Recipient.objects.filter(campaign=campaign).count() == ROWS
