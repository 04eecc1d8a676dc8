from mobul.exceptions import Conflict, DomainError, NotFound


class WebhookNotConfigured(DomainError):
    code = "webhook_not_configured"
    status = 503
    default_message = (
        "The call-tracking webhooks have no Twilio auth token configured (TWILIO_AUTH_TOKEN), so they accept nothing."
    )


class InvalidSignature(DomainError):
    code = "invalid_signature"
    status = 403
    default_message = "The X-Twilio-Signature header is missing or does not match the request."


class RecordingUnavailable(Exception):
    """The provider did not hand over the recording. `retryable`: a later attempt may succeed."""

    def __init__(self, message, *, retryable=True):
        super().__init__(message)
        self.retryable = retryable


class NotMatched(Conflict):
    code = "not_matched"
    default_message = "Match the caller to a recipient first."


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    default_message = "No recipient of this campaign has that phone number or code."


class MatchLocked(Conflict):
    code = "match_locked"
    default_message = "A reward was already sent from this call, so its match cannot change."


class NoRecording(NotFound):
    code = "no_recording"
    default_message = "This call has no stored recording."


class RecordingArchived(Conflict):
    code = "recording_archived"
    default_message = "This recording has been moved to cold storage and cannot be played online."


class TrackingNumberInUse(Conflict):
    code = "tracking_number_in_use"
    default_message = "Calls were recorded on this number; release it instead of deleting it."


class InvalidWebhook(DomainError):
    code = "invalid_webhook"
    default_message = "The webhook does not name a call."
