"""Twilio: its voice webhook format, request signatures, TwiML answers and recording downloads.

Set up each tracking number in Twilio with
    A call comes in:      POST {PUBLIC_BASE_URL}/webhooks/twilio/voice/
    Call status changes:  POST {PUBLIC_BASE_URL}/webhooks/twilio/status/
                          (events: initiated, ringing, answered, completed)
The TwiML we answer with asks for the rest itself: status callbacks of the forwarded leg (its "answered" is
when the client picked up) and the recording callback.
"""

import logging
import tempfile
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from mobul.http import client_ip

from ..choices import CallStatus
from ..exceptions import InvalidSignature, RecordingUnavailable, WebhookNotConfigured
from . import InboundCall, RecordingNotice, StatusUpdate

logger = logging.getLogger(__name__)

NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
RESPONSE_CONTENT_TYPE = "text/xml"
# MP3 rather than WAV: a tenth of the size, and every browser plays it.
RECORDING_EXTENSION = ".mp3"
DOWNLOAD_TIMEOUT = (5, 60)  # seconds to connect, seconds between bytes
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024
UNKNOWN_NUMBER_MESSAGE = "Sorry, this number is not in service. Please check the number and try again. Goodbye."


def public_url(path):
    # Twilio signs the address it called, which is ours as the outside world sees it, not as the proxy
    # in front of us rewrote it.
    return f"{settings.PUBLIC_BASE_URL}{path}"


def verify(request):
    """Raises unless the request carries a valid X-Twilio-Signature for our auth token."""
    token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    if not token:
        raise WebhookNotConfigured()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    url = public_url(request.get_full_path())
    if not signature or not RequestValidator(token).validate(url, request.POST, signature):
        # A stream of these means a wrong PUBLIC_BASE_URL or auth token, or someone probing the webhooks.
        logger.warning("Twilio webhook %s refused from %s: bad or missing signature", url, client_ip(request))
        raise InvalidSignature()


def _status(value):
    return value if value in CallStatus.values else None


def _seconds(value):
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _timestamp(value):
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return timezone.now()
    return at if timezone.is_aware(at) else timezone.make_aware(at, timezone.UTC)


def inbound_call(params):
    return InboundCall(call_id=params.get("CallSid", ""), called=params.get("To", ""),
                       caller=params.get("From", ""), status=_status(params.get("CallStatus")))


def status_update(params):
    parent = params.get("ParentCallSid", "")
    return StatusUpdate(
        call_id=parent or params.get("CallSid", ""), status=_status(params.get("CallStatus")),
        at=_timestamp(params.get("Timestamp")), duration=_seconds(params.get("CallDuration")),
        forwarded_leg=bool(parent),
    )


def recording_notice(params):
    return RecordingNotice(
        call_id=params.get("CallSid", ""), recording_id=params.get("RecordingSid", ""),
        source_url=params.get("RecordingUrl", ""), ready=params.get("RecordingStatus") == "completed",
        duration=_seconds(params.get("RecordingDuration")),
    )


def forward_call_response(tracking_number):
    """TwiML: the consent announcement when recording, then the call put through to the client."""
    response = VoiceResponse()
    recording = {}
    if tracking_number.record_calls:
        response.say(tracking_number.consent_message)
        recording = {
            "record": "record-from-answer",
            "recording_status_callback": public_url(reverse("twilio_webhooks:recording")),
            "recording_status_callback_event": "completed",
        }
    dial = Dial(**recording)
    dial.number(tracking_number.forward_to, status_callback=public_url(reverse("twilio_webhooks:status")),
                status_callback_event="answered completed")
    response.append(dial)
    return str(response)


def unknown_number_response():
    response = VoiceResponse()
    response.say(UNKNOWN_NUMBER_MESSAGE)
    response.hangup()
    return str(response)


def busy_response():
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


def fetch_recording(source_url):
    """The recording's bytes as an open temporary file. Raises RecordingUnavailable."""
    base = getattr(settings, "TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
    # Our account credentials go along with the request: only ever to Twilio's API.
    if not source_url.startswith(f"{base}/"):
        raise RecordingUnavailable(f"The recording URL is not on {base}; it was not fetched.", retryable=False)
    auth = (getattr(settings, "TWILIO_ACCOUNT_SID", ""), getattr(settings, "TWILIO_AUTH_TOKEN", ""))
    try:
        with requests.get(f"{source_url}{RECORDING_EXTENSION}", auth=auth, stream=True,
                          timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status_code != 200:
                raise RecordingUnavailable(f"Twilio answered {response.status_code} for the recording.")
            audio = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
            for chunk in response.iter_content(chunk_size=64 * 1024):
                audio.write(chunk)
    except requests.RequestException as error:
        raise RecordingUnavailable(f"The recording could not be fetched: {error}") from error
    audio.seek(0)
    return audio
