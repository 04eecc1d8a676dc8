"""Retention jobs at their boundaries (one day younger kept, one day older removed), dry runs that change
nothing, overlapping runs refused, the append-only logs purged only by the job, and the beat schedules."""

import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import AuditLog
from analytics.models import Event, EventIngestKey
from analytics.partitions import ensure_partitions, list_partitions
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, Recipient
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from campaigns.tests.test_import_worker import worker  # noqa: F401  (a real worker process)
from giftcards.models import GiftCard, GiftCardLog
from giftcards.tests.factories import GiftCardPoolFactory, stock
from mailpieces.tests.factories import ready_proof
from ops.beat import DatabaseScheduler, install_default_schedules
from ops.models import RetentionRun
from ops import retention
from ops.retention import RetentionRunning, close_dead_runs, cutoff_for, job_lock, run_job
from mobul.celery import app as celery_app
from mobul.tests.processes import ROOT, database_url
from mobul.tests.servers import wait_until
from mobul.tests.test_pgbouncer import pgbouncer  # noqa: F401  (PgBouncer in transaction mode before the test database)
from webhooks.choices import MessageStatus
from webhooks.models import WebhookDelivery, WebhookMessage
from webhooks.services import create_endpoint

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


# --- events -----------------------------------------------------------------------------------

def _events_now_for(cutoff_day):
    """A 'now' whose events cutoff (now - 730 days) falls at midnight of `cutoff_day`."""
    return datetime.combine(cutoff_day, datetime.min.time(), tzinfo=UTC) + timedelta(days=730)


@pytest.fixture
def old_months(tenant_a, unpartitioned):
    """Only the partitions of February and March 2024, one event in each: whatever months the test database was
    migrated with, the events job sees these two alone."""
    ensure_partitions(months_back=0, months_ahead=1, today=date(2024, 2, 1))
    campaign = CampaignFactory(client=tenant_a.client)
    for moment in (datetime(2024, 2, 29, 23, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC)):
        Event.objects.create(campaign=campaign, event_type="visit", source="web", created_at=moment)
    return campaign


def partition_names():
    return {partition.name for partition in list_partitions()}


def test_a_month_is_dropped_once_a_day_past_retention(old_months):
    # February 2024 ends at 2024-03-01 00:00; a cutoff a day later drops it, March is a day short of it.
    run = run_job("events", now=_events_now_for(date(2024, 3, 2)))

    assert run.status == "succeeded" and run.counts == {"partitions": 1, "names": ["events_2024_02"]}
    assert "events_2024_02" not in partition_names() and "events_2024_03" in partition_names()
    assert list(Event.objects.filter(campaign=old_months).values_list("created_at", flat=True)) == [
        datetime(2024, 3, 1, 1, tzinfo=UTC)]


def test_a_month_one_day_short_of_retention_is_kept(old_months):
    run = run_job("events", now=_events_now_for(date(2024, 2, 29)))

    assert run.counts == {"partitions": 0, "names": []}
    assert {"events_2024_02", "events_2024_03"} <= partition_names()
    assert Event.objects.filter(campaign=old_months).count() == 2


def test_events_dry_run_names_the_partition_and_drops_nothing(old_months):
    run = run_job("events", dry_run=True, now=_events_now_for(date(2024, 3, 2)))

    assert run.dry_run and run.counts["names"] == ["events_2024_02"]
    assert "events_2024_02" in partition_names()


# --- recipients -------------------------------------------------------------------------------

def _campaign_with_people(client, *, status, ended_at, people=2):
    campaign = CampaignFactory(client=client)
    for n in range(people):
        create_recipient(campaign=campaign, first_name=f"Ann{n}", last_name="Smith", address1=f"{n} Elm St",
                         city="Boston", state="MA", postal_code="02108", phone=f"+1617555{n:04d}",
                         email=f"ann{n}@example.com", external_id=f"crm-{n}", custom_fields={"pet": "cat"})
    Campaign.objects.filter(pk=campaign.pk).update(status=status, status_changed_at=ended_at)
    return campaign


def test_recipients_are_cleared_three_years_after_their_campaign_ended(tenant_a, now):
    cutoff = cutoff_for("recipients", now=now)
    old = _campaign_with_people(tenant_a.client, status=CampaignStatus.COMPLETED, ended_at=cutoff - DAY)
    cancelled = _campaign_with_people(tenant_a.client, status=CampaignStatus.CANCELLED, ended_at=cutoff - DAY, people=1)
    recent = _campaign_with_people(tenant_a.client, status=CampaignStatus.COMPLETED, ended_at=cutoff + DAY)
    # Still running after all these years: its recipients stay, whenever its status last changed.
    running = _campaign_with_people(tenant_a.client, status=CampaignStatus.ACTIVE, ended_at=cutoff - 100 * DAY)

    old_proof, recent_proof = ready_proof(old), ready_proof(recent)  # a PDF and two thumbnails each
    files = [old_proof.pdf.name, *(old_proof.pieces.get().thumbnail(side).name for side in ("front", "back"))]

    run = run_job("recipients", now=now)

    assert run.counts == {"campaigns": 2, "recipients": 3, "proof_files": 3}
    # The proofs printed the people's names and addresses: their files go, the rows (who approved what) stay.
    assert not any(default_storage.exists(name) for name in files)
    old_proof.refresh_from_db()
    assert not old_proof.pdf and not old_proof.pieces.get().front_thumbnail
    assert default_storage.exists(recent_proof.pdf.name)
    for person in Recipient.all_objects.filter(campaign__in=[old, cancelled]):
        assert person.deleted_at is not None
        assert (person.first_name, person.last_name, person.address1, person.city, person.postal_code, person.phone,
                person.email, person.external_id, person.custom_fields) == ("", "", "", "", "", "", "", "", {})
        assert person.redemption_token  # the printed PURL keeps resolving to "no longer available", not to someone else
    for campaign in (recent, running):
        assert Recipient.objects.filter(campaign=campaign, deleted_at__isnull=True, email__endswith="@example.com"
                                        ).count() == 2
    assert Campaign.objects.filter(pk__in=[old.pk, cancelled.pk]).count() == 2  # campaigns are kept


def test_recipients_go_in_batches_and_a_rerun_finds_nothing(tenant_a, now, settings):
    settings.RETENTION_BATCH_SIZE = 2
    cutoff = cutoff_for("recipients", now=now)
    _campaign_with_people(tenant_a.client, status=CampaignStatus.COMPLETED, ended_at=cutoff - DAY, people=5)

    assert run_job("recipients", now=now).counts["recipients"] == 5
    assert run_job("recipients", now=now).counts["recipients"] == 0


def test_recipients_dry_run_counts_and_clears_nothing(tenant_a, now):
    cutoff = cutoff_for("recipients", now=now)
    campaign = _campaign_with_people(tenant_a.client, status=CampaignStatus.COMPLETED, ended_at=cutoff - DAY)

    run = run_job("recipients", dry_run=True, now=now)

    assert run.counts == {"campaigns": 1, "recipients": 2}
    assert Recipient.objects.filter(campaign=campaign, email__endswith="@example.com").count() == 2


# --- append-only logs ---------------------------------------------------------------------------

def _audit_rows(*ages):
    now = timezone.now()
    for age in ages:
        AuditLog.objects.create(action="update", object_type="test.thing", object_id=str(age), created_at=now - age)


def _card_log_rows(tenant, *ages):
    pool = GiftCardPoolFactory(client=tenant.client)
    stock(pool, 1)
    card = GiftCard.objects.get(pool=pool)
    now = timezone.now()
    for age in ages:
        GiftCardLog.objects.create(card=card, action="claimed", reason=str(age), created_at=now - age)


@pytest.mark.parametrize(("job", "model", "period"), [
    ("audit_logs", AuditLog, timedelta(days=1826)),
    ("gift_card_logs", GiftCardLog, timedelta(days=2557)),
])
def test_old_log_rows_are_purged_in_batches(job, model, period, tenant_a, settings):
    settings.RETENTION_BATCH_SIZE = 2
    ages = [period + DAY, period + 2 * DAY, period + 30 * DAY, period + 400 * DAY, period + 401 * DAY,
            period - DAY, DAY]
    if job == "audit_logs":
        _audit_rows(*ages)
    else:
        _card_log_rows(tenant_a, *ages)
    kept_before = model.objects.count() - 5

    run = run_job(job)

    assert run.counts == {"rows": 5, "batches": 3}
    assert model.objects.count() == kept_before
    assert not model.objects.filter(created_at__lt=timezone.now() - period).exists()
    assert model.objects.filter(created_at__lt=timezone.now() - period + 2 * DAY).count() == 1  # one day younger


def test_old_event_ingest_keys_are_purged_in_batches(settings):
    settings.RETENTION_BATCH_SIZE = 2
    now = timezone.now()
    for n, age in enumerate([31, 32, 40, 29, 1]):
        EventIngestKey.objects.create(client_id=1, key=f"k{n}", created_at=now - age * DAY)

    assert run_job("event_ingest_keys", dry_run=True).counts == {"rows": 3}
    assert run_job("event_ingest_keys").counts == {"rows": 3, "batches": 2}
    assert sorted(EventIngestKey.objects.values_list("key", flat=True)) == ["k3", "k4"]


def test_finished_webhook_messages_and_their_log_are_purged_in_batches(settings, tenant_a):
    settings.RETENTION_BATCH_SIZE = 2
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = settings.WEBHOOKS_ALLOW_HTTP = True
    endpoint, _ = create_endpoint(client=tenant_a.client, url="http://127.0.0.1:9/", event_types=["proof.ready"])
    now = timezone.now()

    def message(name, status, age_days):
        made = WebhookMessage.objects.create(
            client=tenant_a.client, endpoint=endpoint, event_type="proof.ready", event_id=uuid.uuid4(), body=name,
            status=status, next_attempt_at=now, created_at=now - age_days * DAY)
        WebhookDelivery.objects.create(message=made, attempted_at=made.created_at, succeeded=False, latency_ms=5)
        return made

    message("old delivered", MessageStatus.DELIVERED, 31)
    message("old failed", MessageStatus.FAILED, 45)
    message("older delivered", MessageStatus.DELIVERED, 400)
    message("old but still owed", MessageStatus.PENDING, 40)  # a disabled endpoint's backlog, say: not ours to drop
    message("young delivered", MessageStatus.DELIVERED, 29)

    assert run_job("webhook_messages", dry_run=True).counts == {"messages": 3}
    assert run_job("webhook_messages").counts == {"messages": 3, "attempts": 3, "batches": 2}
    assert sorted(WebhookMessage.objects.values_list("body", flat=True)) == ["old but still owed", "young delivered"]
    assert set(WebhookDelivery.objects.values_list("message__body", flat=True)) == {
        "old but still owed", "young delivered"}


def test_log_dry_run_counts_and_deletes_nothing():
    _audit_rows(timedelta(days=1827), timedelta(days=1828), timedelta(days=1825))

    run = run_job("audit_logs", dry_run=True)

    assert run.counts == {"rows": 2} and AuditLog.objects.count() == 3


def test_only_the_retention_job_can_delete_log_rows(tenant_a):
    _audit_rows(timedelta(days=1))
    _card_log_rows(tenant_a, timedelta(days=1))
    before = (AuditLog.objects.count(), GiftCardLog.objects.count())
    for table in ("audit_logs", "gift_card_logs"):
        with pytest.raises(DatabaseError, match="only deleted by the retention job"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table}")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                # Even the retention job's own switch does not allow rewriting history.
                cursor.execute("SET LOCAL mobul.retention_purge = 'on'")
                cursor.execute(f"UPDATE {table} SET created_at = created_at - interval '10 years'")
    with pytest.raises(TypeError):
        AuditLog.objects.all().delete()
    with pytest.raises(TypeError):
        AuditLog.objects.first().delete()
    with pytest.raises(TypeError):
        GiftCardLog.objects.first().delete()
    assert (AuditLog.objects.count(), GiftCardLog.objects.count()) == before


# --- runs: lock, record, command --------------------------------------------------------------

@pytest.fixture
def no_lock_wait(monkeypatch):
    monkeypatch.setattr(retention, "LOCK_WAIT_SECONDS", 0)


def _running(job, triggered_by="beat"):
    return RetentionRun.objects.create(job=job, cutoff=cutoff_for(job), triggered_by=triggered_by)


def test_an_overlapping_run_is_refused_and_the_refusal_recorded(no_lock_wait):
    _audit_rows(timedelta(days=1900))
    with job_lock("audit_logs"):  # another run, on a connection of its own
        live = _running("audit_logs")
        with pytest.raises(RetentionRunning, match=rf"already running \(run #{live.pk}, started .* by beat\)"):
            run_job("audit_logs", triggered_by="manage.py retention")
        refused = RetentionRun.objects.exclude(pk=live.pk).get()
        assert (refused.status, refused.triggered_by, refused.finished_at is not None) == (
            "refused", "manage.py retention", True)
        assert AuditLog.objects.count() == 1
        # Other jobs have their own locks.
        assert run_job("gift_card_logs").status == "succeeded"
        live.delete()
    assert run_job("audit_logs").counts["rows"] == 1


def test_a_failing_job_is_recorded_as_failed_and_releases_its_lock(settings):
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "events": -40}  # a cutoff in the future: refused

    run = run_job("events")

    assert run.status == "failed" and "in the future" in run.errors and run.finished_at
    with job_lock("events"):
        pass


def test_a_run_that_loses_its_lock_stops_as_failed(settings, monkeypatch):
    settings.RETENTION_BATCH_SIZE = 1
    _audit_rows(timedelta(days=1900), timedelta(days=1901))
    acquired = retention.job_lock

    @contextmanager
    def lock_cut_after_acquiring(job, **kwargs):
        with acquired(job, **kwargs) as still_held:
            with psycopg.connect(database_url(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                              "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
            yield still_held

    monkeypatch.setattr(retention, "job_lock", lock_cut_after_acquiring)
    run = run_job("audit_logs")

    assert run.status == "failed" and "LockLost" in run.errors
    assert AuditLog.objects.count() == 1  # it stopped after its first batch


def test_runs_left_running_by_a_dead_process_are_closed_by_the_next_run_and_the_sweeper():
    dead_events = _running("events")
    with job_lock("gift_card_logs"):
        alive = _running("gift_card_logs")
        assert close_dead_runs() == 1
    dead_events.refresh_from_db()
    assert dead_events.status == "failed" and "closed by the sweeper" in dead_events.errors
    alive.refresh_from_db()
    assert alive.status == "running"

    dead_logs = _running("audit_logs")
    run = run_job("audit_logs")
    dead_logs.refresh_from_db()
    assert run.status == "succeeded" and dead_logs.status == "failed"
    assert f"closed by run #{run.pk}" in dead_logs.errors


def test_the_command_runs_a_job_and_reports(capsys, no_lock_wait):
    _audit_rows(timedelta(days=1900), timedelta(days=10))

    call_command("retention", "run", "audit_logs", "--dry-run")
    assert "Would remove: rows: 1." in capsys.readouterr().out
    call_command("retention", "run", "audit_logs")
    assert "Done: rows: 1, batches: 1." in capsys.readouterr().out
    assert AuditLog.objects.count() == 1
    assert [(run.job, run.dry_run, run.triggered_by) for run in RetentionRun.objects.order_by("pk")] == [
        ("audit_logs", True, "manage.py retention"), ("audit_logs", False, "manage.py retention")]

    with job_lock("audit_logs"):
        live = _running("audit_logs", triggered_by="admin: someone")
        with pytest.raises(CommandError, match=rf"already running \(run #{live.pk}, .* by admin: someone\)"):
            call_command("retention", "run", "audit_logs")


def test_the_beat_task_runs_the_job(settings):
    from ops.tasks import run_retention_job

    _audit_rows(timedelta(days=1900))
    run_id = run_retention_job.delay("audit_logs").get()
    assert RetentionRun.objects.get(pk=run_id).triggered_by == "beat" and not AuditLog.objects.exists()


# --- beat schedules -----------------------------------------------------------------------------

def test_default_schedules_are_installed_once_and_staff_edits_survive():
    created = install_default_schedules()
    assert {f"ops.retention.{job}" for job in ("events", "recordings", "recipients", "gift_card_logs", "audit_logs")
            } <= set(created)
    events = PeriodicTask.objects.get(name="ops.retention.events")
    assert (events.task, events.kwargs, events.crontab.hour, events.crontab.minute, str(events.crontab.timezone)) == (
        "ops.tasks.run_retention_job", '{"job": "events"}', "2", "0", "UTC")
    assert PeriodicTask.objects.get(name="ops.check_alerts").crontab.minute == "*"

    # Staff move the job to 03:30; installing again, or beat starting, keeps their choice.
    events.crontab = CrontabSchedule.objects.create(minute="30", hour="3", timezone="UTC")
    events.save()
    assert install_default_schedules() == []
    # What beat does when it starts (a real scheduler would also open its own connections, outside the test's).
    DatabaseScheduler.update_from_dict(object.__new__(DatabaseScheduler), celery_app.conf.beat_schedule)
    events.refresh_from_db()
    assert (events.crontab.hour, events.crontab.minute) == ("3", "30")
    assert PeriodicTask.objects.filter(name__startswith="ops.retention.").count() == len(settings.RETENTION_DAYS)


def test_staff_run_a_job_from_the_admin(staff_client, platform_admin):
    _audit_rows(timedelta(days=1900))
    page = reverse("admin:ops_retention_run")
    assert "Queue the run" in staff_client.get(page).content.decode()
    assert page in staff_client.get(reverse("admin:ops_retentionrun_changelist")).content.decode()

    response = staff_client.post(page, {"job": "audit_logs", "dry_run": "on"}, follow=True)
    assert "dry run queued" in response.content.decode()
    staff_client.post(page, {"job": "audit_logs"})
    runs = list(RetentionRun.objects.order_by("pk").values_list("dry_run", "counts", "triggered_by"))
    assert runs == [(True, {"rows": 1}, f"admin: {platform_admin.email}"),
                    (False, {"rows": 1, "batches": 1}, f"admin: {platform_admin.email}")]

    response = staff_client.post(page, {"job": "campaigns"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def test_run_now_says_when_a_run_is_going_and_clears_a_dead_one(staff_client, platform_admin):
    _audit_rows(timedelta(days=1900))
    page = reverse("admin:ops_retention_run")
    with job_lock("audit_logs"):
        live = _running("audit_logs")
        refused = staff_client.post(page, {"job": "audit_logs"}, follow=True).content.decode()
        assert f"Audit logs (purge) is already running (run #{live.pk}" in refused and "not started again" in refused
        assert list(RetentionRun.objects.values_list("pk", flat=True)) == [live.pk] and AuditLog.objects.exists()

    # Its process died: the row is still `running`, the lock is gone. Run now closes it and runs.
    queued = staff_client.post(page, {"job": "audit_logs"}, follow=True).content.decode()
    assert "run queued" in queued
    live.refresh_from_db()
    assert live.status == "failed" and f"closed by admin: {platform_admin.email}" in live.errors
    assert RetentionRun.objects.exclude(pk=live.pk).get().status == "succeeded" and not AuditLog.objects.exists()


def test_the_beat_schedules_command_is_idempotent(capsys):
    call_command("beat_schedules")
    first = capsys.readouterr().out
    call_command("beat_schedules")
    assert "Created ops.retention.audit_logs." in first
    assert capsys.readouterr().out.strip() == "0 schedule(s) created; the others already existed."


# --- a run whose process dies -----------------------------------------------------------------

def _blocking_the_purge():
    """A transaction of another connection holding the old audit rows, so a purge waits mid-job."""
    holder = psycopg.connect(database_url())
    holder.execute("SELECT id FROM audit_logs FOR UPDATE")
    return holder


def _purge_waits_mid_job(process):
    """Until the process's run is recorded and its DELETE is waiting on the rows held above."""
    def waiting():
        assert process.poll() is None, process.stderr.read().decode()
        with psycopg.connect(database_url(), autocommit=True) as probe:
            return RetentionRun.objects.filter(job="audit_logs", status="running").exists() and probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM \"audit_logs\"%%'").fetchone()[0] == 1
    wait_until(waiting, "the purge did not start", seconds=60)


def _killed(process, holder):
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    holder.rollback()
    holder.close()


def _rerun_succeeds_and_the_dead_run_is_failed(capsys):
    dead = RetentionRun.objects.get(job="audit_logs", status="running")
    call_command("retention", "run", "audit_logs")  # at once: no lease to wait out
    assert "Done: rows: 2, batches: 1." in capsys.readouterr().out
    assert not AuditLog.objects.filter(created_at__lt=cutoff_for("audit_logs")).exists()
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.finished_at and "stopped before it finished" in dead.errors


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_job_leaves_no_lock_and_its_run_is_closed_as_failed(worker, capsys):  # noqa: F811
    from ops.tasks import run_retention_job

    _audit_rows(timedelta(days=1900), timedelta(days=1901))
    holder = _blocking_the_purge()
    run_retention_job.delay("audit_logs")
    _purge_waits_mid_job(worker)
    _killed(worker, holder)
    _rerun_succeeds_and_the_dead_run_is_failed(capsys)


@pytest.mark.django_db(transaction=True)
def test_a_command_killed_mid_job_behind_pgbouncer_leaves_no_lock(pgbouncer, capsys):  # noqa: F811
    _audit_rows(timedelta(days=1900), timedelta(days=1901))
    holder = _blocking_the_purge()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "retention", "run", "audit_logs"], cwd=ROOT,
        env={**os.environ, "MOBUL_TESTING": "0", "DATABASE_URL": pgbouncer.url(), "DATABASE_PGBOUNCER": "true",
             "REDIS_URL": settings.CACHE_REDIS_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _purge_waits_mid_job(process)
    _killed(process, holder)
    _rerun_succeeds_and_the_dead_run_is_failed(capsys)  # this test's own connections go through PgBouncer too
