"""Year-old recordings moved to cold storage on a real S3-compatible server (moto's, over HTTP): verified,
crash-safe at each step, and brought back on a staff request."""

from datetime import timedelta
from uuid import uuid4

import boto3
import pytest
from django.contrib.admin.sites import site
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from calltracking import archive
from calltracking.models import CallSession, RecordingArchive
from calltracking.tasks import RESTORE_CHECK_SECONDS
from mobul.tests.s3 import S3_CREDENTIALS, s3_endpoint, s3_storage_config  # noqa: F401 (fixtures)
from ops.retention import cutoff_for, run_job

from .test_recordings import AUDIO, call_id  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def buckets(settings, s3_endpoint):
    """Recordings in one bucket, the archive in another (GLACIER), both on the moto server."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    hot, cold = f"recordings-{uuid4().hex[:10]}", f"archive-{uuid4().hex[:10]}"
    for name in (hot, cold):
        s3.create_bucket(Bucket=name)
    archive_config = s3_storage_config(s3_endpoint, cold)
    archive_config["OPTIONS"].update(location="archive", file_overwrite=True)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_config(s3_endpoint, hot),
                         "recordings_archive": archive_config}
    settings.RECORDING_ARCHIVE_STORAGE_CLASS = "GLACIER"
    return s3, hot, cold


def recorded_call(call_id, s3, hot, *, started_at, audio=AUDIO):
    """The call of `call_id`, started at `started_at`, with its recording stored in the hot bucket."""
    session = CallSession.objects.get(provider_call_id=call_id)
    key = f"recordings/{started_at:%Y/%m}/{session.pk}-RE1.mp3"
    s3.put_object(Bucket=hot, Key=key, Body=audio)
    CallSession.objects.filter(pk=session.pk).update(call_started_at=started_at, recording=key,
                                                     recording_status="stored")
    return CallSession.objects.get(pk=session.pk)


def keys(s3, bucket):
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_recording_a_day_past_retention_moves_to_cold_storage(call_id, buckets):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)

    run = run_job("recordings")

    assert run.status == "succeeded" and run.counts == {"archived": 1, "finished": 0, "skipped": 0, "failed": 0}
    session.refresh_from_db()
    assert (session.recording, session.recording_status) == (f"archive://{session.pk}", "archived")
    assert keys(s3, hot) == []
    head = s3.head_object(Bucket=cold, Key=f"archive/recordings/{session.pk}")
    assert (head["ContentLength"], head["StorageClass"]) == (len(AUDIO), "GLACIER")
    journal = RecordingArchive.objects.get(session=session)
    assert journal.size_bytes == len(AUDIO) and journal.archived_at and journal.source_deleted_at
    assert journal.storage_class == "GLACIER"
    # The session row and everything else about the call stay.
    assert CallSession.objects.filter(pk=session.pk, provider_call_id=call_id).exists()


def test_a_recording_a_day_short_of_retention_stays(call_id, buckets):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") + DAY)

    assert run_job("recordings").counts["archived"] == 0
    session.refresh_from_db()
    assert session.recording_status == "stored" and keys(s3, hot) == [session.recording]
    assert keys(s3, cold) == []


def test_dry_run_counts_and_moves_nothing(call_id, buckets):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)

    assert run_job("recordings", dry_run=True).counts == {"recordings": 1}
    session.refresh_from_db()
    assert session.recording_status == "stored" and keys(s3, hot) == [session.recording] and keys(s3, cold) == []


def test_killed_between_copy_and_update_the_next_run_finishes_without_a_second_copy(call_id, buckets, monkeypatch):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    original = session.recording

    def killed(session_id):
        raise SystemExit("worker killed")  # what the process sees of a SIGTERM

    # The copy is written and verified; the process dies just before the call is pointed at it.
    monkeypatch.setattr(archive, "archive_reference", killed)
    with pytest.raises(SystemExit):
        archive.archive_recording(session_id=session.pk)
    session.refresh_from_db()
    assert (session.recording, session.recording_status) == (original, "stored")  # nothing lost
    assert keys(s3, hot) == [original] and keys(s3, cold) == [f"archive/recordings/{session.pk}"]
    first_copy = s3.head_object(Bucket=cold, Key=f"archive/recordings/{session.pk}")

    writes = []
    monkeypatch.undo()
    real_write = archive._write
    monkeypatch.setattr(archive, "_write", lambda *args: writes.append(args) or real_write(*args))
    run = run_job("recordings")

    assert run.counts["archived"] == 1 and writes == []  # the verified copy was reused, not written again
    session.refresh_from_db()
    assert session.recording == f"archive://{session.pk}" and keys(s3, hot) == []
    assert keys(s3, cold) == [f"archive/recordings/{session.pk}"]
    assert s3.head_object(Bucket=cold, Key=f"archive/recordings/{session.pk}")["ETag"] == first_copy["ETag"]


def test_killed_between_update_and_delete_the_next_run_deletes_the_original(call_id, buckets, monkeypatch):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)

    def killed(session_id):
        raise SystemExit("worker killed")

    monkeypatch.setattr(archive, "_delete_original", killed)
    with pytest.raises(SystemExit):
        archive.archive_recording(session_id=session.pk)
    monkeypatch.undo()
    session.refresh_from_db()
    assert session.recording_status == "archived" and len(keys(s3, hot)) == 1  # an orphan, for now

    run = run_job("recordings")

    assert run.counts == {"archived": 0, "finished": 1, "skipped": 0, "failed": 0}
    assert keys(s3, hot) == [] and keys(s3, cold) == [f"archive/recordings/{session.pk}"]


def test_a_damaged_copy_is_rewritten_before_anything_is_deleted(call_id, buckets):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    # A partial upload of a killed run: same name, wrong bytes.
    s3.put_object(Bucket=cold, Key=f"archive/recordings/{session.pk}", Body=AUDIO[:100])

    assert run_job("recordings").counts["archived"] == 1
    head = s3.head_object(Bucket=cold, Key=f"archive/recordings/{session.pk}")
    assert head["ContentLength"] == len(AUDIO) and head["StorageClass"] == "GLACIER"


def test_a_copy_that_does_not_verify_keeps_the_original(call_id, buckets, monkeypatch):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    # The archive loses the upload (it reports nothing stored), as a misbehaving store might.
    monkeypatch.setattr(archive, "_write", lambda *args: None)

    run = run_job("recordings")

    assert run.status == "failed" and run.counts["failed"] == 1 and "ArchiveMismatch" in run.errors
    session.refresh_from_db()
    assert session.recording_status == "stored" and keys(s3, hot) == [session.recording]


def test_staff_restore_an_archived_recording(call_id, buckets, staff_client, django_capture_on_commit_callbacks):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    run_job("recordings")
    session.refresh_from_db()
    changelist = reverse("admin:calltracking_callsession_changelist")

    # GLACIER: the first attempt asks S3 to thaw the object and comes back later (the eager retry stops in the
    # robust on-commit hook); the sweeper waits that long before it would queue the restore again.
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(changelist, {"action": "restore_from_cold_storage", "_selected_action": [session.pk]})
    session.refresh_from_db()
    assert session.recording_status == "restoring" and session.recording.startswith("archive://")
    assert session.recording_queued_at > timezone.now() + timedelta(seconds=RESTORE_CHECK_SECONDS - 60)
    assert 'ongoing-request="false"' in s3.head_object(Bucket=cold, Key=f"archive/recordings/{session.pk}")["Restore"]
    assert AuditLog.objects.filter(object_id=str(session.pk),
                                   changes__recording_status=["archived", "restoring"]).exists()

    # moto thaws at once; the retry copies it back.
    from calltracking.tasks import restore_archived_recording
    restore_archived_recording.apply(args=[session.pk], retries=1, throw=True)

    session.refresh_from_db()
    assert session.recording_status == "stored" and not session.recording.startswith("archive://")
    assert s3.get_object(Bucket=hot, Key=session.recording)["Body"].read() == AUDIO
    journal = RecordingArchive.objects.get(session=session)
    assert journal.restored_at and journal.archived_at is None
    # Kept hot for a while: tonight's run leaves it alone.
    assert run_job("recordings").counts["archived"] == 0
    assert session.recording in keys(s3, hot)


def test_a_restored_recording_is_archived_again_later_without_a_new_upload(call_id, buckets, settings, monkeypatch):
    s3, hot, cold = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    run_job("recordings")
    CallSession.objects.filter(pk=session.pk).update(recording_status="restoring")
    assert archive.restore_recording(session_id=session.pk) is False  # thawing
    assert archive.restore_recording(session_id=session.pk) is True
    settings.RECORDING_RESTORE_KEEP_DAYS = 0
    monkeypatch.setattr(archive, "_write", lambda *args: pytest.fail("the identical archived copy was uploaded again"))

    assert run_job("recordings").counts["archived"] == 1
    session.refresh_from_db()
    assert session.recording_status == "archived" and keys(s3, hot) == []


def test_restoring_is_refused_for_a_recording_not_in_cold_storage(call_id, buckets, staff_client):
    s3, hot, _ = buckets
    session = recorded_call(call_id, s3, hot, started_at=timezone.now())
    response = staff_client.post(reverse("admin:calltracking_callsession_changelist"),
                                 {"action": "restore_from_cold_storage", "_selected_action": [session.pk]}, follow=True)
    assert "is not in cold storage" in response.content.decode()
    session.refresh_from_db()
    assert session.recording_status == "stored"
    assert site._registry[CallSession].has_delete_permission(None) is False


def test_on_local_disk_the_archive_is_a_folder_outside_media(call_id, settings, tmp_path):
    """The default without S3: a FileSystemStorage archive, copied, checked by reading it back, restored at once."""
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                     "OPTIONS": {"location": tmp_path / "media"}},
                         "recordings_archive": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                "OPTIONS": {"location": tmp_path / "archive"}}}
    session = CallSession.objects.get(provider_call_id=call_id)
    hot = tmp_path / "media" / "recordings" / "old.mp3"
    hot.parent.mkdir(parents=True)
    hot.write_bytes(AUDIO)
    CallSession.objects.filter(pk=session.pk).update(call_started_at=cutoff_for("recordings") - DAY,
                                                     recording="recordings/old.mp3", recording_status="stored")

    assert run_job("recordings").counts["archived"] == 1
    assert not hot.exists() and (tmp_path / "archive" / "recordings" / str(session.pk)).read_bytes() == AUDIO
    journal = RecordingArchive.objects.get(session=session)
    assert journal.storage_class == "" and journal.source_deleted_at

    CallSession.objects.filter(pk=session.pk).update(recording_status="restoring")
    assert archive.restore_recording(session_id=session.pk) is True
    session.refresh_from_db()
    assert session.recording_status == "stored" and (tmp_path / "media" / session.recording).read_bytes() == AUDIO


def test_a_thaw_that_never_comes_gives_up_and_leaves_the_recording_archived(call_id, buckets):
    from calltracking.tasks import RESTORE_MAX_RETRIES, restore_archived_recording

    s3, hot, _ = buckets
    session = recorded_call(call_id, s3, hot, started_at=cutoff_for("recordings") - DAY)
    run_job("recordings")
    CallSession.objects.filter(pk=session.pk).update(recording_status="restoring")

    # The last retry finds the object still frozen (its thaw is only being requested now).
    restore_archived_recording.apply(args=[session.pk], retries=RESTORE_MAX_RETRIES, throw=True)

    session.refresh_from_db()
    assert (session.recording_status, session.recording) == ("archived", f"archive://{session.pk}")
