"""Cold storage of old call recordings, and bringing one back on request.

Archiving one recording, crash-safe at every step (the RecordingArchive row is the journal):
  1. read the stored recording, noting its size and MD5;
  2. write it to the archive storage (settings.STORAGES["recordings_archive"]) as `recordings/<call id>` in the
     configured storage class, unless an identical copy is already there (a run killed after this step);
  3. check the archived copy: size and checksum as the archive itself reports them (S3 computes the ETag of
     what it received; Content-MD5 makes it refuse a damaged upload);
  4. in one transaction, point the call at `archive://<call id>` and mark the journal archived;
  5. delete the original. A run killed before this is finished by the next one (journal: archived, original
     not yet deleted).
Nothing is deleted before its copy is verified and recorded, and the archive name depends only on the call, so
a re-run overwrites rather than duplicates.

A GLACIER-class object cannot be read until S3 thaws it (hours): restoring asks for the thaw and the task
retries until the copy is readable, then writes it back to the recordings storage.
"""

import base64
import hashlib
import logging
import tempfile
from datetime import timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from storages.backends.s3 import S3Storage

from . import providers
from .choices import RecordingStatus
from .models import ARCHIVE_SCHEME, CallSession, RecordingArchive
from .recordings import recording_path, recording_storage

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Kept in memory up to this size while copying, spooled to a temporary file beyond.
SPOOL_BYTES = 8 * 1024 * 1024
THAWING_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}


class ArchiveMismatch(Exception):
    """The archived copy does not have the size and checksum of the original."""


def archive_storage():
    return storages["recordings_archive"]


def archive_name(session_id):
    return f"recordings/{session_id}"


def archive_reference(session_id):
    return f"{ARCHIVE_SCHEME}{session_id}"


# --- Storage-level helpers -------------------------------------------------------------------

def _read(storage, name):
    """(spooled copy, size, md5 hex) of a stored file."""
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    digest, size = hashlib.md5(usedforsecurity=False), 0
    with storage.open(name, "rb") as source:
        while chunk := source.read(CHUNK):
            copy.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    copy.seek(0)
    return copy, size, digest.hexdigest()


def _s3_object(storage, name):
    return storage.bucket.Object(storage._normalize_name(name))


def _stat(storage, name):
    """(size, md5 hex) of the archived copy as the archive reports it, or None when there is none."""
    if isinstance(storage, S3Storage):
        try:
            head = _s3_object(storage, name).meta.client.head_object(
                Bucket=storage.bucket_name, Key=storage._normalize_name(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head["ContentLength"], head["ETag"].strip('"')
    if not storage.exists(name):
        return None
    copy, size, md5 = _read(storage, name)
    copy.close()
    return size, md5


def _write(storage, name, content, md5):
    if isinstance(storage, S3Storage):
        _s3_object(storage, name).put(
            Body=content, ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(), ContentType="audio/mpeg",
            StorageClass=settings.RECORDING_ARCHIVE_STORAGE_CLASS,
        )
        return
    if storage.exists(name):
        storage.delete(name)  # a partial copy from a killed run
    saved = storage.save(name, File(content, name=name))
    if saved != name:
        raise ArchiveMismatch(f"The archive stored {name} as {saved}.")


def _readable(storage, name):
    """Whether an archived object can be read now; asks S3 to thaw a cold one that cannot."""
    if not isinstance(storage, S3Storage):
        return True
    obj = _s3_object(storage, name)
    head = obj.meta.client.head_object(Bucket=storage.bucket_name, Key=storage._normalize_name(name))
    if head.get("StorageClass") not in THAWING_CLASSES:
        return True
    restore = head.get("Restore")
    if restore is None:
        obj.restore_object(RestoreRequest={
            "Days": settings.RECORDING_ARCHIVE_RESTORE_DAYS,
            "GlacierJobParameters": {"Tier": settings.RECORDING_ARCHIVE_RESTORE_TIER},
        })
        return False
    return 'ongoing-request="false"' in restore


# --- Archiving -------------------------------------------------------------------------------

def due_for_archive(cutoff):
    """Calls started before `cutoff` whose recording is still in the recordings storage, except those staff
    brought back recently; plus archived ones whose original was not deleted yet (a run killed at step 5)."""
    restored_since = timezone.now() - timedelta(days=settings.RECORDING_RESTORE_KEEP_DAYS)
    hot = (
        Q(call_started_at__lt=cutoff, recording__isnull=False)
        & ~Q(recording__startswith=ARCHIVE_SCHEME)
        & ~Q(archive__restored_at__gte=restored_since)
    )
    unfinished = Q(archive__archived_at__isnull=False, archive__source_deleted_at__isnull=True)
    return CallSession.objects.filter(hot | unfinished).order_by("pk")


def archive_recording(*, session_id):
    """Moves one call's recording to cold storage (see the module docstring). Returns what it did:
    "archived", "finished" (a killed run's original deleted), or "skipped" (nothing to move)."""
    session = CallSession.objects.get(pk=session_id)
    if session.recording_archived:
        return "finished" if _delete_original(session_id) else "skipped"
    if not session.recording:
        return "skipped"
    source, hot, cold = session.recording, recording_storage(), archive_storage()
    name = archive_name(session_id)

    content, size, md5 = _read(hot, source)
    with content:
        RecordingArchive.objects.update_or_create(session_id=session_id, defaults={
            "source_name": source, "archive_name": name, "size_bytes": size, "md5": md5,
            "storage_class": settings.RECORDING_ARCHIVE_STORAGE_CLASS if isinstance(cold, S3Storage) else "",
            "archived_at": None, "source_deleted_at": None,
        })
        if _stat(cold, name) != (size, md5):
            _write(cold, name, content, md5)
    archived = _stat(cold, name)
    if archived != (size, md5):
        raise ArchiveMismatch(f"Archived copy of call {session_id} is {archived}, expected {(size, md5)}.")

    with transaction.atomic():
        session = CallSession.objects.select_for_update().get(pk=session_id)
        if session.recording != source:
            # Replaced or archived by someone else meanwhile: their state stands.
            return "skipped"
        session.recording, session.recording_status = archive_reference(session_id), RecordingStatus.ARCHIVED
        session.save(update_fields=["recording", "recording_status", "updated_at"])
        RecordingArchive.objects.filter(session_id=session_id).update(archived_at=timezone.now())
    _delete_original(session_id)
    return "archived"


def _delete_original(session_id):
    journal = RecordingArchive.objects.filter(
        session_id=session_id, archived_at__isnull=False, source_deleted_at__isnull=True).first()
    if journal is None:
        return False
    recording_storage().delete(journal.source_name)  # deleting a file already gone is not an error
    RecordingArchive.objects.filter(pk=journal.pk).update(source_deleted_at=timezone.now())
    return True


# --- Restoring -------------------------------------------------------------------------------

def restore_recording(*, session_id):
    """Copies an archived recording back into the recordings storage. Returns False while the archive is still
    thawing it (call again later), True once the call has its recording back (or was not waiting for one)."""
    session = CallSession.objects.select_related("archive").get(pk=session_id)
    if session.recording_status != RecordingStatus.RESTORING or not session.recording_archived:
        return True
    journal, cold = session.archive, archive_storage()
    if not _readable(cold, journal.archive_name):
        return False
    content, size, md5 = _read(cold, journal.archive_name)
    with content:
        if (size, md5) != (journal.size_bytes, journal.md5):
            raise ArchiveMismatch(f"Archived copy of call {session_id} is {(size, md5)}, "
                                  f"expected {(journal.size_bytes, journal.md5)}.")
        extension = providers.adapter(session.provider).RECORDING_EXTENSION
        name = recording_storage().save(recording_path(session, extension), File(content))
    with transaction.atomic():
        session = CallSession.objects.select_for_update().get(pk=session_id)
        if session.recording_status != RecordingStatus.RESTORING:
            recording_storage().delete(name)
            return True
        session.recording, session.recording_status = name, RecordingStatus.STORED
        session.save(update_fields=["recording", "recording_status", "updated_at"])
        # The archived copy stays: archiving this call again finds it identical and only deletes the original.
        RecordingArchive.objects.filter(session_id=session_id).update(
            source_name=name, archived_at=None, source_deleted_at=None, restored_at=timezone.now())
    return True


def restore_abandoned(*, session_id):
    """The archive never made the copy readable: the call goes back to plain "in cold storage"."""
    CallSession.objects.filter(pk=session_id, recording_status=RecordingStatus.RESTORING).update(
        recording_status=RecordingStatus.ARCHIVED, updated_at=timezone.now())
