"""Phone providers. Each adapter module turns its provider's webhook format into these neutral values and
speaks its call-control language; everything else (services, tasks, models) is provider-neutral.

An adapter module provides: NAME, verify(request), inbound_call(params), status_update(params),
recording_notice(params), forward_call_response(tracking_number), unknown_number_response(),
busy_response(), RESPONSE_CONTENT_TYPE, RECORDING_EXTENSION and fetch_recording(source_url).
"""

from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

PROVIDERS = ("twilio",)


def adapter(name):
    if name not in PROVIDERS:
        raise LookupError(f"No call-tracking provider named {name!r}.")
    return import_module(f"{__name__}.{name}")


@dataclass(frozen=True)
class InboundCall:
    call_id: str
    called: str  # the tracking number, as the provider wrote it
    caller: str  # the caller id, as the provider wrote it
    status: str | None  # a CallStatus value, None when the provider sent one we do not know


@dataclass(frozen=True)
class StatusUpdate:
    call_id: str  # always the caller's call, also for updates about the forwarded leg
    status: str | None
    at: datetime
    duration: int | None
    forwarded_leg: bool  # about the call put through to the client's line


@dataclass(frozen=True)
class RecordingNotice:
    call_id: str
    recording_id: str
    source_url: str
    ready: bool  # False for progress or failure notices: nothing to download
    duration: int | None
