from django.db import models


class TrackingNumberStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"


class CallStatus(models.TextChoices):
    """Every status a call can report (Twilio's vocabulary; another provider's adapter maps onto it)."""

    QUEUED = "queued", "Queued"
    INITIATED = "initiated", "Initiated"
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed"
    NO_ANSWER = "no-answer", "No answer"
    CANCELED = "canceled", "Canceled"


# How far along a call is. Callbacks arrive out of order; a status never replaces one of a higher rank,
# and the first final status is the call's outcome.
FINAL_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER,
                            CallStatus.CANCELED})
STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    **{status: 4 for status in FINAL_STATUSES},
}
LIVE_STATUSES = frozenset(STATUS_RANK) - FINAL_STATUSES


class MatchMethod(models.TextChoices):
    UNMATCHED = "unmatched", "Not matched"
    # Several live recipients of the campaign share the caller's number: nobody is picked automatically.
    AMBIGUOUS = "ambiguous", "Several recipients share this number"
    CALLER_ID = "caller_id", "Caller's number"
    AGENT_PHONE = "agent_phone", "Agent, by phone number"
    AGENT_CODE = "agent_code", "Agent, by printed code"


class Disposition(models.TextChoices):
    NONE = "", "Not set"
    CONDITION_MET = "condition_met", "Condition met"
    NOT_QUALIFIED = "not_qualified", "Condition not met"
    CALL_BACK = "call_back", "Call back later"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    OTHER = "other", "Other"


class RecordingStatus(models.TextChoices):
    NONE = "none", "No recording"
    PENDING = "pending", "Downloading"
    STORED = "stored", "Stored"
    FAILED = "failed", "Download failed"
    ARCHIVED = "archived", "In cold storage"
    RESTORING = "restoring", "Coming back from cold storage"


# A task is on its way for these; the sweeper queues it again when its message was lost.
RECORDING_IN_FLIGHT = [RecordingStatus.PENDING, RecordingStatus.RESTORING]
