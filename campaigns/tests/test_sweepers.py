"""The ways out of stranded campaign work, in the test process: the import sweeper's rules (lost messages, dead
workers, the attempts bound, a run given up for dead), the mailing sweeper, and the database's status checks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection
from django.utils import timezone

from campaigns import jobs
from campaigns.choices import CampaignStatus, ImportStatus, RecipientStatus
from campaigns.imports import run_recipient_import
from campaigns.models import Campaign, ImportJob, Recipient
from campaigns.services import queue_unrecorded_mailings, start_recipient_import, transition_campaign
from campaigns.tests.factories import CampaignFactory, csv_bytes, person

pytestmark = pytest.mark.django_db

ROWS = 5


@pytest.fixture
def campaign(tenant_a):
    return CampaignFactory(client=tenant_a.client)


def lost_upload(campaign):
    """An upload whose on-commit message never reached the broker (its hook is not run)."""
    data = csv_bytes([person(n) for n in range(1, ROWS + 1)])
    return start_recipient_import(campaign=campaign, on_error="reject",
                                  uploaded_file=SimpleUploadedFile("people.csv", data, "text/csv"))


def later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_pending_import_whose_message_was_lost_is_queued_again_once_late(campaign, settings,
                                                                          django_capture_on_commit_callbacks):
    job = lost_upload(campaign)
    assert jobs.sweep(now=later(settings.IMPORT_REQUEUE_SECONDS - 5)) == {"requeued": 0, "failed": 0}
    with django_capture_on_commit_callbacks(execute=True):  # the worker takes the requeued message
        assert jobs.sweep(now=later(settings.IMPORT_REQUEUE_SECONDS + 5)) == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows_imported) == (ImportStatus.COMPLETED, 1, ROWS)


def test_a_running_import_is_swept_only_once_its_heartbeat_is_stale(campaign, settings):
    job = jobs.claim(lost_upload(campaign).pk)
    silent = settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS
    assert jobs.sweep(now=later(silent - 5))["requeued"] == 0
    assert jobs.sweep(now=later(silent + 5))["requeued"] == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportStatus.PENDING, 1)


def test_a_job_whose_worker_died_on_every_attempt_fails_instead_of_being_queued_again(campaign, settings):
    settings.IMPORT_MAX_ATTEMPTS = 2
    job = lost_upload(campaign)
    for attempt in (1, 2):
        assert jobs.claim(job.pk).attempts == attempt
        outcome = jobs.sweep(now=later(settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS * attempt + 5))
        assert outcome == ({"requeued": 1, "failed": 0} if attempt == 1 else {"requeued": 0, "failed": 1})
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.finished_at is not None
    assert job.error_message.startswith("The import was started 2 times and its worker stopped each time")
    assert jobs.claim(job.pk) is None
    assert job.progress_percent == 0


def test_a_message_delivered_twice_runs_the_import_once(campaign):
    job = lost_upload(campaign)
    assert jobs.claim(job.pk) is not None
    assert jobs.claim(job.pk) is None  # the second delivery finds it running
    assert ImportJob.objects.get(pk=job.pk).attempts == 1


def test_a_run_given_up_for_dead_cannot_finish_over_its_successor(campaign, settings):
    """A worker frozen past the heartbeat timeout (not dead) comes back after the sweeper handed its job out again:
    its whole import is rolled back and the job stays its successor's."""
    job = lost_upload(campaign)
    frozen = jobs.claim(job.pk)
    jobs.sweep(now=later(settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS + 5))
    successor = jobs.claim(job.pk)
    assert successor.attempts == 2

    with pytest.raises(jobs.ImportTakenOver):
        run_recipient_import(frozen)
    assert not Recipient.objects.filter(campaign=campaign).exists()
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.RUNNING

    run_recipient_import(successor)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows_imported) == (ImportStatus.COMPLETED, 2, ROWS)
    assert Recipient.objects.filter(campaign=campaign).count() == ROWS


def test_a_failed_import_shows_how_far_it_got_and_the_dashboard_says_failed(tenant_a, campaign, client):
    job = lost_upload(campaign)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, rows_total=1000, rows_done=400,
                                               error_message="The import failed unexpectedly.")
    job.refresh_from_db()
    assert job.progress_percent == 40
    ImportJob.objects.filter(pk=job.pk).update(rows_done=1000)
    job.refresh_from_db()
    assert job.progress_percent == 100  # read to the end, and still failed: not "99 %"

    client.force_login(tenant_a.admin)
    page = client.get(f"/app/imports/{job.pk}/").content.decode()
    assert '<span id="import-state" class="badge badge-import-failed">Failed</span>' in page
    assert '<div id="import-bar" hidden>' in page
    assert "The import failed unexpectedly." in page
    status = client.get(f"/app/imports/{job.pk}/status/").json()
    assert (status["status"], status["failed"], status["finished"]) == ("failed", True, True)


def test_a_running_import_never_shows_done(campaign):
    job = lost_upload(campaign)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, rows_total=100, rows_done=100)
    job.refresh_from_db()
    assert job.progress_percent == 99


# --- Mailing -------------------------------------------------------------------------------------

@pytest.fixture
def in_production(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client, status=CampaignStatus.IN_PRODUCTION,
                               mail_date=timezone.localdate())
    Recipient.objects.bulk_create(
        Recipient(campaign=campaign, first_name=f"P{n}", address1=f"{n} Main St", city="Boston", postal_code="02108",
                  redemption_token=f"token-{campaign.pk}-{n}", short_code=f"S{campaign.pk:04d}{n:05d}", dedupe_hash=n)
        for n in range(3))
    return campaign


def test_a_mailing_whose_record_mailing_was_lost_is_recorded_by_the_sweeper(in_production, settings,
                                                                             django_capture_on_commit_callbacks):
    transition_campaign(campaign=in_production, to_status=CampaignStatus.MAILED)  # its on-commit run is lost
    assert set(in_production.recipients.values_list("status", flat=True)) == {RecipientStatus.PENDING}
    assert queue_unrecorded_mailings(now=later(settings.MAILING_REQUEUE_SECONDS - 5)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert queue_unrecorded_mailings(now=later(settings.MAILING_REQUEUE_SECONDS + 5)) == 1
    assert set(in_production.recipients.values_list("status", flat=True)) == {RecipientStatus.MAILED}
    assert queue_unrecorded_mailings(now=later(settings.MAILING_REQUEUE_SECONDS + 5)) == 0


def test_pieces_are_marked_mailed_on_the_app_clock(in_production, time_machine, django_capture_on_commit_callbacks):
    instant = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    time_machine.move_to(instant, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        transition_campaign(campaign=in_production, to_status=CampaignStatus.MAILED)
    assert set(in_production.recipients.values_list("updated_at", flat=True)) == {instant}


# --- Status checks ------------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["campaigns", "recipients", "import_jobs"])
def test_the_database_refuses_a_status_outside_the_choices(table, in_production, campaign):
    lost_upload(campaign)
    with pytest.raises(IntegrityError, match=f"{table}_status_valid"), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET status = 'shipped'")


def test_every_choice_passes_the_status_checks(in_production):
    for status in CampaignStatus.values:
        Campaign.objects.filter(pk=in_production.pk).update(status=status)
    for status in RecipientStatus.values:
        Recipient.objects.filter(campaign=in_production).update(status=status)
