import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Client
from campaigns.models import Campaign, Recipient
from campaigns.normalize import normalize_phone

from .choices import (
    LIVE_STATUSES,
    RECORDING_IN_FLIGHT,
    CallStatus,
    Disposition,
    MatchMethod,
    RecordingStatus,
    TrackingNumberStatus,
)

E164 = r"^\+[1-9][0-9]{1,14}$"
DEFAULT_CONSENT_MESSAGE = "This call may be recorded for quality and training purposes."
ARCHIVE_SCHEME = "archive://"


class TrackingNumber(models.Model):
    """A phone number printed on a campaign's pieces; calls to it are recorded and forwarded to the client."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="tracking_numbers")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="tracking_numbers")
    phone_number = models.CharField(max_length=16, help_text="The number printed on the mail piece (E.164).")
    forward_to = models.CharField(max_length=16, help_text="Where calls are put through: the client's line (E.164).")
    record_calls = models.BooleanField(default=False, help_text="Record forwarded calls (the caller hears the "
                                                                "consent announcement first).")
    consent_message = models.CharField(max_length=500, default=DEFAULT_CONSENT_MESSAGE, blank=True,
                                       help_text="Played to the caller before a recorded call is put through.")
    status = models.CharField(max_length=16, choices=TrackingNumberStatus.choices,
                              default=TrackingNumberStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tracking_numbers"
        ordering = ["phone_number", "pk"]
        constraints = [
            # A released number may later be printed for another campaign; only one can be live at a time.
            models.UniqueConstraint(fields=["phone_number"], condition=Q(status=TrackingNumberStatus.ACTIVE),
                                    name="tracking_numbers_active_number"),
            models.CheckConstraint(condition=Q(phone_number__regex=E164) & Q(forward_to__regex=E164),
                                   name="tracking_numbers_e164"),
        ]

    def __str__(self):
        return self.phone_number

    def clean_fields(self, exclude=None):
        # Normalised before the length checks, so any common way of writing a number is accepted.
        exclude = set(exclude or ())
        errors = {}
        for name in ("phone_number", "forward_to"):
            if name not in exclude:
                try:
                    setattr(self, name, normalize_phone(getattr(self, name)))
                except ValidationError as error:
                    errors[name] = error.messages
        try:
            super().clean_fields(exclude=exclude | set(errors))
        except ValidationError as error:
            errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)

    def clean(self):
        super().clean()
        errors = {}
        numbers_valid = all(re.fullmatch(E164, number) for number in (self.phone_number, self.forward_to))
        if numbers_valid and self.phone_number == self.forward_to:
            errors["forward_to"] = ["Calls cannot be forwarded to the tracking number itself."]
        if self.record_calls and not self.consent_message.strip():
            errors["consent_message"] = ["Recorded calls need a consent announcement."]
        if self.campaign_id and self.client_id and self.campaign.client_id != self.client_id:
            errors["campaign"] = ["The campaign belongs to another client."]
        if numbers_valid and self.status == TrackingNumberStatus.ACTIVE and (
            TrackingNumber.objects.filter(phone_number=self.phone_number, status=TrackingNumberStatus.ACTIVE)
            .exclude(pk=self.pk).exists()
        ):
            errors["phone_number"] = ["This number is already active on another campaign; release it there first."]
        if errors:
            raise ValidationError(errors)


class CallSession(models.Model):
    """One inbound call to a tracking number, from the provider's first webhook to the agent's disposition."""

    provider = models.CharField(max_length=16, default="twilio")
    provider_call_id = models.CharField(max_length=64, unique=True)
    tracking_number = models.ForeignKey(TrackingNumber, on_delete=models.PROTECT, related_name="calls")
    # The number's campaign when the call came in. Indexed through idx_call_sessions_campaign_date (see Meta).
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="call_sessions", db_index=False)
    caller_phone = models.CharField(max_length=16, blank=True,
                                    help_text="E.164; empty when the caller id is withheld or not a phone number.")
    caller_raw = models.CharField(max_length=64, blank=True, help_text="The caller id exactly as the provider sent it.")
    recipient = models.ForeignKey(Recipient, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="call_sessions", verbose_name="matched recipient")
    match_method = models.CharField(max_length=16, choices=MatchMethod.choices, default=MatchMethod.UNMATCHED)
    provider_status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.RINGING)
    call_started_at = models.DateTimeField(default=timezone.now)
    call_answered_at = models.DateTimeField(null=True, blank=True,
                                            help_text="When the client's line picked up the forwarded call.")
    call_ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # A storage name, or archive://<id> once moved to cold storage. NULL when there is none: the seed's
    # archiving runbook selects `recording_url IS NOT NULL`.
    recording = models.CharField(max_length=255, null=True, blank=True, db_column="recording_url")
    recording_status = models.CharField(max_length=16, choices=RecordingStatus.choices, default=RecordingStatus.NONE)
    recording_sid = models.CharField(max_length=64, blank=True, help_text="The provider's id of the recording.")
    recording_source_url = models.CharField(max_length=500, blank=True,
                                            help_text="Where the provider serves the recording.")
    recording_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_error = models.CharField(max_length=500, blank=True)
    recording_queued_at = models.DateTimeField(
        null=True, blank=True, help_text="While downloading or coming back from cold storage: when its task is due.")
    recording_requeues = models.PositiveSmallIntegerField(
        default=0, help_text="How many times the sweeper queued that task again (its message was lost).")
    disposition = models.CharField(max_length=16, choices=Disposition.choices, default=Disposition.NONE, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="handled_calls", help_text="The agent who last worked this call.")
    notes = models.TextField(blank=True)
    gift_card = models.ForeignKey("giftcards.GiftCard", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="call_sessions", help_text="The reward an agent sent from this call.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "call_sessions"
        ordering = ["-call_started_at", "-pk"]
        # The seed's idx_call_sessions_campaign_date (campaign_id, call_started_at) is one character over
        # Django's 30-character limit for index names, so migration 0001 creates it in SQL under its seed name.
        indexes = [
            models.Index(fields=["caller_phone", "campaign"], name="idx_call_sessions_caller"),
            # The recording sweeper's lookup.
            models.Index(fields=["recording_queued_at"], condition=Q(recording_status__in=RECORDING_IN_FLIGHT),
                         name="call_sessions_recording_due"),
        ]

    def __str__(self):
        return f"Call {self.provider_call_id} from {self.caller_phone or self.caller_raw or 'unknown'}"

    @property
    def is_live(self):
        return self.provider_status in LIVE_STATUSES

    @property
    def recording_archived(self):
        return bool(self.recording) and self.recording.startswith(ARCHIVE_SCHEME)


class RecordingArchive(models.Model):
    """The journal of one recording's trip to cold storage (see archive.py): where it came from, where it went,
    its size and checksum, and how far the move got, so a killed run is finished by the next one."""

    session = models.OneToOneField(CallSession, on_delete=models.PROTECT, primary_key=True, related_name="archive")
    source_name = models.CharField(max_length=255, help_text="The recording's name in the recordings storage.")
    archive_name = models.CharField(max_length=255, help_text="Its name in the archive storage.")
    size_bytes = models.BigIntegerField()
    md5 = models.CharField(max_length=32)
    storage_class = models.CharField(max_length=32, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="When the call was pointed at the archive.")
    source_deleted_at = models.DateTimeField(null=True, blank=True)
    restore_requested_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "call_recording_archives"
        indexes = [
            # The retention run's "finish what a killed run started" lookup.
            models.Index(fields=["archived_at"], condition=Q(source_deleted_at__isnull=True),
                         name="recording_archives_unfinished"),
        ]

    def __str__(self):
        return f"Recording of call {self.session_id} → {self.archive_name}"
