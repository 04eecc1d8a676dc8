"""Where call recordings are kept and how authorised people get to hear them.

Storage: the "recordings" entry of settings.STORAGES when there is one (say, a bucket whose lifecycle rules
move year-old objects to cold storage), else the default storage. Names: recordings/YYYY/MM/<call id>-<recording
id>.mp3, by the month the call started.

Playback is always through a URL that stops working after RECORDING_URL_MAX_AGE_SECONDS (default 300): S3 signs
its own (a presigned GET); any other storage gets a URL of ours carrying a TimestampSigner token that names the
call and the stored file, served by `views.recording_file`. Handing out a URL is audited.
"""

from django.conf import settings
from django.core import signing
from django.core.files.storage import storages
from django.urls import reverse

from accounts.choices import AuditAction
from accounts.services import record_audit
from mobul.storage import presigns

from .exceptions import NoRecording, RecordingArchived
from .models import CallSession

SIGNER_SALT = "calltracking.recording"


def recording_storage():
    return storages["recordings" if "recordings" in settings.STORAGES else "default"]


def recording_path(session, extension):
    return f"recordings/{session.call_started_at:%Y/%m}/{session.pk}-{session.recording_sid}{extension}"


def url_max_age():
    return getattr(settings, "RECORDING_URL_MAX_AGE_SECONDS", 300)


def playback_url(*, session, request=None, actor=None):
    """A URL that plays `session`'s recording for the next few minutes. The caller checked who may hear it."""
    if session.recording_archived:
        raise RecordingArchived()
    if not session.recording:
        raise NoRecording()
    storage = recording_storage()
    if presigns(storage):
        url = storage.url(session.recording, expire=url_max_age())
    else:
        token = signing.TimestampSigner(salt=SIGNER_SALT).sign_object({"id": session.pk, "name": session.recording})
        url = f"{settings.PUBLIC_BASE_URL}{reverse('calltracking:recording_file', args=[token])}"
    record_audit(action=AuditAction.REVEAL, obj=session, client=session.campaign.client, request=request,
                 actor=actor, changes={"recording": session.recording})
    return url


def session_for_token(token):
    """The call whose stored recording `token` names, while the token is fresh; else None."""
    try:
        data = signing.TimestampSigner(salt=SIGNER_SALT).unsign_object(token, max_age=url_max_age())
    except signing.BadSignature:  # also SignatureExpired
        return None
    # The name must still be the call's recording: once archived or replaced, old links stop working.
    return CallSession.objects.filter(pk=data.get("id"), recording=data.get("name")).first()
