"""Recordings: downloaded from a fake Twilio on localhost into a real S3-compatible server (moto's, over HTTP),
retried and idempotent; played back only through short-lived signed URLs."""

import threading
import time
from base64 import b64encode
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from celery.exceptions import Retry
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from accounts.models import AuditLog
from calltracking.models import CallSession
from calltracking.recordings import recording_storage
from calltracking.services import retry_recording, store_recording, sweep_recordings
from calltracking.tasks import RECORDING_MAX_RETRIES, download_recording
from mobul.tests.s3 import bucket, s3, s3_endpoint, s3_storage_config  # noqa: F401  (fixtures)

from .factories import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    RECORDING,
    VOICE,
    new_call_id,
    recording_params,
    twilio_post,
    voice_params,
)

pytestmark = pytest.mark.django_db

AUDIO = b"ID3\x04\x00" + bytes(range(256)) * 64
@pytest.fixture
def local_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}
    return tmp_path


class FakeTwilio:
    """Serves a recording like api.twilio.com does: behind basic auth with the account sid and auth token."""

    def __init__(self):
        self.requests = []
        self.failures = []  # status codes to answer with before serving the audio
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Authorization")))
                expected = "Basic " + b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    status = 401
                elif fake.failures:
                    status = fake.failures.pop(0)
                else:
                    status = 200 if self.path.endswith(".mp3") else 404
                body = AUDIO if status == 200 else b"error"
                self.send_response(status)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def recording_url(self, recording_id="RE" + "1" * 32):
        return f"{self.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_id}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio_api(settings):
    fake = FakeTwilio()
    settings.TWILIO_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


@pytest.fixture
def call_id(client, number):
    call_id = new_call_id()
    assert twilio_post(client, VOICE, voice_params(call_id)).status_code == 200
    return call_id


def notify(client, call_id, url, **params):
    response = twilio_post(client, RECORDING, recording_params(call_id, url=url, **params))
    assert response.status_code == 204, response.content
    return CallSession.objects.get(provider_call_id=call_id)


def session_of(call_id):
    return CallSession.objects.get(provider_call_id=call_id)


# --- Download ---------------------------------------------------------------------------------

def test_a_finished_recording_is_downloaded_into_s3(client, call_id, s3, twilio_api,
                                                    django_capture_on_commit_callbacks):
    s3_client, bucket_name = s3
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, call_id, twilio_api.recording_url())

    session = session_of(call_id)
    assert session.recording == (f"recordings/{session.call_started_at:%Y/%m}/{session.pk}-RE{'1' * 32}.mp3")
    assert (session.recording_status, session.recording_duration_seconds, session.recording_error) == (
        "stored", 42, "")
    stored = s3_client.get_object(Bucket=bucket_name, Key=session.recording)
    assert stored["Body"].read() == AUDIO
    assert stored["ContentType"] == "audio/mpeg"
    ((path, _auth),) = twilio_api.requests
    assert path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'1' * 32}.mp3"


def test_recordings_can_have_their_own_storage(client, call_id, settings, s3_endpoint, bucket, local_storage,
                                               twilio_api, django_capture_on_commit_callbacks):
    s3_client, bucket_name = bucket
    settings.STORAGES = {**settings.STORAGES, "recordings": s3_storage_config(s3_endpoint, bucket_name)}
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, call_id, twilio_api.recording_url())

    key = session_of(call_id).recording
    assert s3_client.get_object(Bucket=bucket_name, Key=key)["Body"].read() == AUDIO
    assert not storages["default"].exists(key)


def test_a_provider_failure_is_retried_until_it_works(client, call_id, s3, twilio_api,
                                                      django_capture_on_commit_callbacks):
    twilio_api.failures = [500]
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, call_id, twilio_api.recording_url())  # the eager retry stops in the robust on-commit hook
    session = session_of(call_id)
    assert (session.recording, session.recording_status) == (None, "pending")
    assert session.recording_error == "Twilio answered 500 for the recording."
    # The retry is due in 30 s: the sweeper leaves the download to it until then.
    assert timedelta(seconds=20) < session.recording_queued_at - timezone.now() <= timedelta(seconds=30)

    # What the worker does when the retry comes due.
    download_recording.apply(args=[session.pk], retries=1, throw=True)

    session = session_of(call_id)
    assert session.recording_status == "stored" and session.recording_error == ""
    assert s3[0].get_object(Bucket=s3[1], Key=session.recording)["Body"].read() == AUDIO
    assert len(twilio_api.requests) == 2


def test_when_retries_run_out_the_download_is_failed_and_staff_can_retry(client, call_id, local_storage, twilio_api,
                                                                          django_capture_on_commit_callbacks):
    session = notify(client, call_id, twilio_api.recording_url())  # the first attempt is not run here
    twilio_api.failures = [503] * (RECORDING_MAX_RETRIES + 1)
    for attempt in range(RECORDING_MAX_RETRIES + 1):
        retried = False
        try:
            download_recording.apply(args=[session.pk], retries=attempt, throw=True)
        except Retry as retry:
            retried = True
            assert retry.when == min(3600, 30 * 2 ** attempt)
        assert retried == (attempt < RECORDING_MAX_RETRIES)
        assert session_of(call_id).recording_status == ("pending" if retried else "failed")
    assert "503" in session_of(call_id).recording_error

    with django_capture_on_commit_callbacks(execute=True):
        assert retry_recording(session=session) is True
    assert session_of(call_id).recording_status == "stored"
    assert retry_recording(session=session) is False


def test_a_stored_recording_is_never_downloaded_again(client, call_id, s3, twilio_api,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, call_id, twilio_api.recording_url())
    stored = session_of(call_id).recording

    download_recording.apply(args=[session_of(call_id).pk], throw=True)
    store_recording(session_id=session_of(call_id).pk)
    with django_capture_on_commit_callbacks(execute=True) as scheduled:
        notify(client, call_id, twilio_api.recording_url())  # Twilio retrying its callback

    assert not scheduled
    assert len(twilio_api.requests) == 1
    assert session_of(call_id).recording == stored
    assert [item["Key"] for item in s3[0].list_objects_v2(Bucket=s3[1])["Contents"]] == [stored]


def test_a_repeated_notice_while_downloading_schedules_nothing_more(client, call_id, local_storage, twilio_api,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as first:
        notify(client, call_id, twilio_api.recording_url())
    with django_capture_on_commit_callbacks() as second:
        notify(client, call_id, twilio_api.recording_url())
    assert (len(first), len(second)) == (1, 0)


def test_a_url_outside_the_twilio_api_is_never_fetched(client, call_id, local_storage, twilio_api,
                                                       django_capture_on_commit_callbacks):
    # Our account credentials travel with the download: they must only ever go to Twilio.
    with django_capture_on_commit_callbacks(execute=True):
        notify(client, call_id, f"http://127.0.0.1:9/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1")
    session = session_of(call_id)
    assert (session.recording, session.recording_status) == (None, "failed")
    assert "was not fetched" in session.recording_error
    assert not twilio_api.requests


@pytest.mark.parametrize("status", ["in-progress", "absent", "failed"])
def test_notices_without_a_finished_recording_schedule_nothing(client, call_id, twilio_api, status,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as scheduled:
        notify(client, call_id, twilio_api.recording_url(), status=status)
    assert not scheduled and session_of(call_id).recording_status == "none"


def test_a_recording_of_an_unknown_call_is_ignored(client, number, twilio_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as scheduled:
        response = twilio_post(client, RECORDING, recording_params(new_call_id(), url=twilio_api.recording_url()))
    assert response.status_code == 204 and not scheduled


# --- Sweeper: downloads and restores whose message was lost ---------------------------------------

def later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_download_whose_message_was_lost_is_queued_again_once_late(client, call_id, local_storage, twilio_api,
                                                                      settings, django_capture_on_commit_callbacks):
    notify(client, call_id, twilio_api.recording_url())  # its on-commit message is lost
    assert sweep_recordings(now=later(settings.RECORDING_REQUEUE_SECONDS - 5)) == {"requeued": 0, "given_up": 0}
    with django_capture_on_commit_callbacks(execute=True):  # the worker takes the requeued message
        assert sweep_recordings(now=later(settings.RECORDING_REQUEUE_SECONDS + 5)) == {"requeued": 1, "given_up": 0}
    session = session_of(call_id)
    assert (session.recording_status, session.recording_requeues) == ("stored", 1)
    assert len(twilio_api.requests) == 1


def test_a_download_lost_every_time_is_failed_for_staff_to_retry(client, call_id, local_storage, twilio_api, settings,
                                                                 django_capture_on_commit_callbacks):
    settings.RECORDING_MAX_REQUEUES = 2
    session = notify(client, call_id, twilio_api.recording_url())
    step = settings.RECORDING_REQUEUE_SECONDS + 5
    for sweep in (1, 2):  # each requeued message is lost too
        assert sweep_recordings(now=later(step * sweep))["requeued"] == 1
    assert sweep_recordings(now=later(step * 3)) == {"requeued": 0, "given_up": 1}
    failed = session_of(call_id)
    assert failed.recording_status == "failed"
    assert failed.recording_error == "The download never ran: its task was lost 3 times. Retry it."
    assert sweep_recordings(now=later(step * 4))["given_up"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_recording(session=session) is True
    assert session_of(call_id).recording_status == "stored"


def test_a_download_waiting_for_its_retry_is_left_to_it(client, call_id, local_storage, twilio_api, settings,
                                                        django_capture_on_commit_callbacks):
    twilio_api.failures = [503] * 5
    session = notify(client, call_id, twilio_api.recording_url())
    with pytest.raises(Retry) as retry:
        download_recording.apply(args=[session.pk], retries=5, throw=True)
    assert retry.value.when == 960
    assert sweep_recordings(now=later(960 + settings.RECORDING_REQUEUE_SECONDS - 60))["requeued"] == 0
    assert sweep_recordings(now=later(960 + settings.RECORDING_REQUEUE_SECONDS + 5))["requeued"] == 1


def test_a_restore_whose_message_was_lost_is_queued_again_then_given_up_to_cold_storage(call_id, settings):
    settings.RECORDING_MAX_REQUEUES = 1
    session = session_of(call_id)
    CallSession.objects.filter(pk=session.pk).update(recording="archive://1", recording_status="restoring",
                                                     recording_queued_at=timezone.now())
    step = settings.RECORDING_REQUEUE_SECONDS + 5
    assert sweep_recordings(now=later(step)) == {"requeued": 1, "given_up": 0}
    assert sweep_recordings(now=later(2 * step)) == {"requeued": 0, "given_up": 1}
    session.refresh_from_db()
    assert (session.recording_status, session.recording) == ("archived", "archive://1")
    assert "Ask for the recording again" in session.recording_error


# --- Playback ---------------------------------------------------------------------------------

def stored_recording(call_id, name="recordings/test/call.mp3"):
    name = recording_storage().save(name, ContentFile(AUDIO))
    CallSession.objects.filter(provider_call_id=call_id).update(recording=name, recording_status="stored")
    return session_of(call_id)


def recording_api(api_client, session):
    return api_client.get(f"/api/v1/call-sessions/{session.pk}/recording/")


def test_s3_hands_out_a_presigned_url_that_expires_in_five_minutes(key_client, call_id, s3, tenant_a):
    session = stored_recording(call_id)
    response = recording_api(key_client, session)

    assert response.status_code == 200, response.content
    assert response.json()["expires_in"] == 300
    url = response.json()["url"]
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" in query:  # SigV4
        assert query["X-Amz-Expires"] == ["300"]
    else:  # SigV2, what boto3 picks for this endpoint: an absolute expiry time
        assert 295 <= int(query["Expires"][0]) - time.time() <= 300
    assert requests.get(url, timeout=10).content == AUDIO
    # Without its signature the object is not public.
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    audit = AuditLog.objects.get(action="reveal", object_id=str(session.pk))
    assert (audit.api_key, audit.client) == (tenant_a.api_key, tenant_a.client)


def test_other_storages_get_a_signed_url_of_ours(key_client, client, call_id, local_storage):
    session = stored_recording(call_id)
    url = recording_api(key_client, session).json()["url"]

    assert url.startswith(f"{PUBLIC_BASE_URL}/app/calls/recordings/")
    played = client.get(url.removeprefix(PUBLIC_BASE_URL))
    assert played.status_code == 200
    assert b"".join(played.streaming_content) == AUDIO
    assert played["Content-Type"] == "audio/mpeg" and played["Cache-Control"] == "private, no-store"


def test_a_signed_url_stops_working(key_client, client, call_id, local_storage, settings):
    session = stored_recording(call_id)
    path = recording_api(key_client, session).json()["url"].removeprefix(PUBLIC_BASE_URL)

    assert client.get(path[:-3] + "xx/").status_code == 404  # tampered
    settings.RECORDING_URL_MAX_AGE_SECONDS = -1  # every link is now older than allowed
    assert client.get(path).status_code == 404


def test_a_link_dies_with_the_file_it_named(key_client, client, call_id, local_storage):
    session = stored_recording(call_id)
    path = recording_api(key_client, session).json()["url"].removeprefix(PUBLIC_BASE_URL)
    CallSession.objects.filter(pk=session.pk).update(recording=f"archive://{session.pk}", recording_status="archived")

    assert client.get(path).status_code == 404
    response = recording_api(key_client, session)
    assert response.status_code == 409 and response.json()["error"]["code"] == "recording_archived"


def test_the_schema_documents_an_archived_recording(client):
    responses = client.get("/api/v1/schema/", {"format": "json"}).json()["paths"][
        "/api/v1/call-sessions/{id}/recording/"]["get"]["responses"]
    assert "cold storage" in responses["409"]["description"]
    assert responses["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_no_recording_is_a_404(key_client, call_id):
    response = recording_api(key_client, session_of(call_id))
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_recording"


def test_another_tenants_recording_is_not_found(api_client, call_id, local_storage, tenant_b):
    session = stored_recording(call_id)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    response = recording_api(api_client, session)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not AuditLog.objects.filter(action="reveal").exists()


def test_an_agent_is_sent_on_to_a_fresh_link(client, call_id, local_storage, tenant_a):
    session = stored_recording(call_id)
    client.force_login(tenant_a.agent)
    response = client.get(f"/app/calls/{session.pk}/recording/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{PUBLIC_BASE_URL}/app/calls/recordings/")
    assert AuditLog.objects.get(action="reveal").actor == tenant_a.agent
