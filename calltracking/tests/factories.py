from datetime import UTC
from email.utils import format_datetime
from itertools import count
from urllib.parse import urlencode

from django.utils import timezone
from twilio.request_validator import RequestValidator

from calltracking.services import create_tracking_number

AUTH_TOKEN = "test-twilio-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
# Not the test client's host: signatures must be checked against the public address, as behind a proxy.
PUBLIC_BASE_URL = "https://calls.mobul.example"
VOICE, STATUS, RECORDING = "/webhooks/twilio/voice/", "/webhooks/twilio/status/", "/webhooks/twilio/recording/"

_call_ids = count(1)


def new_call_id():
    return f"CA{next(_call_ids):032d}"


def tracking_number_for(campaign, phone_number="+16175550100", **fields):
    fields = {"forward_to": "+16175550199", "record_calls": True, **fields}
    return create_tracking_number(client=campaign.client, campaign=campaign, phone_number=phone_number, **fields)


def sign(path, params, *, token=AUTH_TOKEN, base_url=PUBLIC_BASE_URL):
    return RequestValidator(token).compute_signature(f"{base_url}{path}", params)


def twilio_post(client, path, params, *, signature=None, headers=None, **signing):
    """POSTs `params` form-encoded as Twilio does, signed with the real scheme unless told otherwise."""
    if headers is None:
        headers = {"X-Twilio-Signature": sign(path, params, **signing) if signature is None else signature}
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)


def voice_params(call_id, *, caller="+16175550134", called="+16175550100", status="ringing"):
    return {"CallSid": call_id, "AccountSid": ACCOUNT_SID, "From": caller, "To": called, "CallStatus": status,
            "Direction": "inbound", "ApiVersion": "2010-04-01"}


def twilio_time(at):
    """A time as Twilio writes it in callbacks (RFC 2822)."""
    return format_datetime(at.astimezone(UTC))


def status_params(call_id, status, *, at=None, duration=None, parent=None, called="+16175550100"):
    # Stamped now unless told otherwise, as Twilio stamps a callback when it sends it.
    params = {"CallSid": call_id, "AccountSid": ACCOUNT_SID, "CallStatus": status,
              "Timestamp": twilio_time(at or timezone.now()),
              "To": called, "From": "+16175550134", "CallbackSource": "call-progress-events"}
    if duration is not None:
        params["CallDuration"] = str(duration)
    if parent is not None:
        params["ParentCallSid"] = parent
    return params


def recording_params(call_id, *, url, recording_id="RE" + "1" * 32, status="completed", duration=42):
    return {"CallSid": call_id, "AccountSid": ACCOUNT_SID, "RecordingSid": recording_id, "RecordingUrl": url,
            "RecordingStatus": status, "RecordingDuration": str(duration), "RecordingChannels": "1",
            "RecordingSource": "DialVerb"}
