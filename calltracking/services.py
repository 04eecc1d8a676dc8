"""Every write to tracking numbers and call sessions goes through these functions.

Matching a caller: the caller id, normalised to E.164, against the live recipients of the tracking number's
campaign. Exactly one → matched ("caller_id"). None → "unmatched". Several (a household on one line) →
"ambiguous": nobody is picked automatically, because a reward sent to the wrong person cannot be taken back;
the agent picks one, or matches by the printed short code. Agents match only within the call's campaign.

Statuses arrive out of order and more than once: a call's status only moves forward (see choices.STATUS_RANK),
its first final status is its outcome, and times already known are never overwritten.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

import analytics
import webhooks
from accounts.choices import AuditAction
from accounts.services import record_audit
from analytics.choices import EventSource, EventType
from campaigns.choices import MAILED_STATUSES
from campaigns.models import Recipient
from giftcards.choices import RedemptionChannel
from giftcards.services import redeem
from mobul.celery import after_commit
from webhooks.choices import EventType as WebhookEvent

from . import providers
from .choices import (
    FINAL_STATUSES,
    RECORDING_IN_FLIGHT,
    STATUS_RANK,
    CallStatus,
    Disposition,
    MatchMethod,
    RecordingStatus,
    TrackingNumberStatus,
)
from .exceptions import InvalidWebhook, MatchLocked, NotMatched, RecipientNotFound, TrackingNumberInUse
from .models import CallSession, RecordingArchive, TrackingNumber
from .recordings import recording_path, recording_storage
from .selectors import e164_or_blank
from .tasks import download_recording, restore_archived_recording

logger = logging.getLogger(__name__)

TRACKING_NUMBER_FIELDS = ("campaign", "phone_number", "forward_to", "record_calls", "consent_message", "status")


def _locked(session):
    return CallSession.objects.select_for_update(of=("self",)).select_related("campaign__client").get(pk=session.pk)


# --- Tracking numbers -----------------------------------------------------------------------

def _snapshot(number):
    return {name: str(getattr(number, f"{name}_id" if name == "campaign" else name)) for name in TRACKING_NUMBER_FIELDS}


def _save_number(number):
    number.full_clean()
    try:
        with transaction.atomic():
            number.save()
    except IntegrityError:
        # Another request activated the same number between our check and our write.
        raise ValidationError({"phone_number": ["This number is already active on another campaign."]}) from None


@transaction.atomic
def create_tracking_number(*, client, request=None, **fields):
    number = TrackingNumber(client=client, **fields)
    _save_number(number)
    record_audit(action=AuditAction.CREATE, obj=number, client=client, request=request, changes=_snapshot(number))
    return number


@transaction.atomic
def update_tracking_number(*, tracking_number, request=None, **fields):
    number = TrackingNumber.objects.select_for_update().get(pk=tracking_number.pk)
    before = _snapshot(number)
    for name, value in fields.items():
        setattr(number, name, value)
    _save_number(number)
    after = _snapshot(number)
    record_audit(action=AuditAction.UPDATE, obj=number, client=number.client, request=request,
                 changes={name: [before[name], after[name]] for name in after if before[name] != after[name]})
    return number


@transaction.atomic
def delete_tracking_number(*, tracking_number, request=None):
    """Deletes a number nobody called; one with calls keeps their history and can only be released."""
    number = TrackingNumber.objects.select_for_update().get(pk=tracking_number.pk)
    if number.calls.exists():
        raise TrackingNumberInUse()
    record_audit(action=AuditAction.DELETE, obj=number, client=number.client, request=request)
    number.delete()


# --- Calls, from the provider's webhooks ----------------------------------------------------

def find_tracking_number(called):
    number = e164_or_blank(called)
    if not number:
        return None
    active = TrackingNumber.objects.select_related("campaign").filter(status=TrackingNumberStatus.ACTIVE)
    return active.filter(phone_number=number).first()


def match_caller(*, campaign_id, caller_phone):
    """(recipient or None, MatchMethod) for a caller of `campaign_id`'s tracking number."""
    if not caller_phone:
        return None, MatchMethod.UNMATCHED
    found = list(Recipient.objects.filter(campaign_id=campaign_id, phone=caller_phone).order_by("pk")[:2])
    if len(found) == 1:
        return found[0], MatchMethod.CALLER_ID
    return None, MatchMethod.AMBIGUOUS if found else MatchMethod.UNMATCHED


def start_call(*, provider, call):
    """Records an incoming call once per provider call id; a retried webhook gets the same session back.

    Returns (tracking_number, session), both None when nobody holds the called number.
    """
    if not call.call_id:
        raise InvalidWebhook()
    existing = CallSession.objects.select_related("tracking_number").filter(provider_call_id=call.call_id).first()
    if existing is not None:
        return existing.tracking_number, existing
    tracking_number = find_tracking_number(call.called)
    if tracking_number is None:
        return None, None
    campaign = tracking_number.campaign
    caller_phone = e164_or_blank(call.caller)
    recipient, method = match_caller(campaign_id=campaign.pk, caller_phone=caller_phone)
    with transaction.atomic():
        # The unique call id settles a race between two deliveries of the same webhook: one inserts, the other
        # waits for it and then finds its row.
        session, created = CallSession.objects.get_or_create(provider_call_id=call.call_id, defaults={
            "provider": provider, "tracking_number": tracking_number, "campaign": campaign,
            "caller_phone": caller_phone, "caller_raw": call.caller[:64], "recipient": recipient,
            "match_method": method, "provider_status": call.status or CallStatus.RINGING,
        })
        # Like a PURL visit: only calls about pieces that are in the mail count as responses.
        if created and campaign.status in MAILED_STATUSES:
            analytics.record_event(
                event_type=EventType.CALL_STARTED, campaign_id=campaign.pk, source=EventSource.CALL,
                recipient_id=recipient.pk if recipient else None, occurred_at=session.call_started_at,
                payload={"call_session": session.pk, "tracking_number": tracking_number.phone_number,
                         "match": method},
            )
    return tracking_number, session


def update_call_status(*, update):
    """Applies one status callback. Returns the session, or None for a call we never saw."""
    if not update.call_id:
        raise InvalidWebhook()
    with transaction.atomic():
        session = (
            CallSession.objects.select_for_update(of=("self",)).select_related("campaign")
            .filter(provider_call_id=update.call_id).first()
        )
        if session is None:
            return None
        changed = set()
        if update.forwarded_leg:
            # The client's line picked up. Its other statuses say nothing about the caller's call.
            if update.status == CallStatus.IN_PROGRESS and session.call_answered_at is None:
                session.call_answered_at = update.at
                changed.add("call_answered_at")
        else:
            was_final = session.provider_status in FINAL_STATUSES
            if update.status is not None and STATUS_RANK[update.status] > STATUS_RANK[session.provider_status]:
                session.provider_status = update.status
                changed.add("provider_status")
            if update.status in FINAL_STATUSES:
                if session.call_ended_at is None:
                    session.call_ended_at = update.at
                    changed.add("call_ended_at")
                if session.duration_seconds is None and update.duration is not None:
                    session.duration_seconds = update.duration
                    changed.add("duration_seconds")
            if not was_final and session.provider_status in FINAL_STATUSES and (
                session.campaign.status in MAILED_STATUSES
            ):
                analytics.record_event(
                    event_type=EventType.CALL_COMPLETED, campaign_id=session.campaign_id, source=EventSource.CALL,
                    recipient_id=session.recipient_id, occurred_at=session.call_ended_at,
                    payload={"call_session": session.pk, "status": session.provider_status,
                             "duration": session.duration_seconds},
                )
                webhooks.publish(client_id=session.campaign.client_id, event_type=WebhookEvent.CALL_COMPLETED, data={
                    "call_session_id": session.pk, "campaign_id": session.campaign_id,
                    "tracking_number_id": session.tracking_number_id, "recipient_id": session.recipient_id,
                    "status": session.provider_status, "duration_seconds": session.duration_seconds,
                    "started_at": session.call_started_at, "answered_at": session.call_answered_at,
                    "ended_at": session.call_ended_at,
                }, occurred_at=session.call_ended_at)
        if changed:
            session.save(update_fields=[*changed, "updated_at"])
    return session


def register_recording(*, notice):
    """Notes a finished recording and schedules its download. Repeated notices schedule nothing new."""
    if not notice.call_id:
        raise InvalidWebhook()
    if not notice.ready:
        return None
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(provider_call_id=notice.call_id).first()
        if session is None:
            return None
        if session.recording_status in (RecordingStatus.PENDING, RecordingStatus.STORED, RecordingStatus.ARCHIVED,
                                        RecordingStatus.RESTORING):
            if session.recording_sid != notice.recording_id:
                logger.warning("Call %s: ignoring a second recording %s", session.pk, notice.recording_id)
            return session
        session.recording_sid, session.recording_source_url = notice.recording_id[:64], notice.source_url[:500]
        session.recording_duration_seconds = notice.duration
        session.recording_status, session.recording_error = RecordingStatus.PENDING, ""
        _queue_recording_task(session, "recording_sid", "recording_source_url", "recording_duration_seconds",
                              "recording_status", "recording_error")
    return session


def _queue_recording_task(session, *changed):
    """Saves `changed` and queues the task of the session's new recording status, due now, after commit."""
    session.recording_queued_at, session.recording_requeues = timezone.now(), 0
    session.save(update_fields=[*changed, "recording_queued_at", "recording_requeues", "updated_at"])
    task, session_id = RECORDING_TASKS[session.recording_status], session.pk
    after_commit(lambda: task.delay(session_id))


def store_recording(*, session_id):
    """Downloads the call's recording into storage, once. Raises RecordingUnavailable (see the adapter)."""
    session = CallSession.objects.get(pk=session_id)
    if session.recording:
        return session
    adapter = providers.adapter(session.provider)
    storage = recording_storage()
    # The download happens outside any transaction: no row stays locked while bytes travel.
    with adapter.fetch_recording(session.recording_source_url) as audio:
        name = storage.save(recording_path(session, adapter.RECORDING_EXTENSION), File(audio))
    with transaction.atomic():
        session = CallSession.objects.select_for_update().get(pk=session_id)
        if session.recording:
            # Another run stored it meanwhile: keep theirs, drop ours.
            storage.delete(name)
            return session
        session.recording, session.recording_status, session.recording_error = name, RecordingStatus.STORED, ""
        session.save(update_fields=["recording", "recording_status", "recording_error", "updated_at"])
    return session


def retry_recording(*, session, request=None):
    """Schedules another download of a recording whose retries ran out. Returns whether it did."""
    with transaction.atomic():
        session = _locked(session)
        if session.recording_status != RecordingStatus.FAILED or not session.recording_source_url:
            return False
        session.recording_status, session.recording_error = RecordingStatus.PENDING, ""
        _queue_recording_task(session, "recording_status", "recording_error")
        record_audit(action=AuditAction.UPDATE, obj=session, client=session.campaign.client, request=request,
                     changes={"recording_status": [RecordingStatus.FAILED, RecordingStatus.PENDING]})
    return True


def request_recording_restore(*, session, request=None):
    """Staff asked to hear an archived recording: schedules its return from cold storage. Returns whether it did
    (False when the call's recording is not in cold storage or already on its way back)."""
    with transaction.atomic():
        session = _locked(session)
        if session.recording_status != RecordingStatus.ARCHIVED or not session.recording_archived:
            return False
        session.recording_status = RecordingStatus.RESTORING
        _queue_recording_task(session, "recording_status")
        RecordingArchive.objects.filter(session=session).update(restore_requested_at=timezone.now())
        record_audit(action=AuditAction.UPDATE, obj=session, client=session.campaign.client, request=request,
                     changes={"recording_status": [RecordingStatus.ARCHIVED, RecordingStatus.RESTORING]})
    return True


def recording_failed(*, session_id, error, retry_in=None):
    """A download attempt failed: it is tried again in `retry_in` seconds, or (None) the recording is failed for
    good, until staff retry it."""
    retrying = retry_in is not None
    CallSession.objects.filter(pk=session_id, recording__isnull=True).update(
        recording_status=RecordingStatus.PENDING if retrying else RecordingStatus.FAILED, recording_error=error[:500],
        recording_queued_at=timezone.now() + timedelta(seconds=retry_in) if retrying else None,
    )


def recording_task_due(*, session_id, status, in_seconds):
    """The recording's task (still `status`) comes back in `in_seconds`: the sweeper waits for it that long."""
    CallSession.objects.filter(pk=session_id, recording_status=status).update(
        recording_queued_at=timezone.now() + timedelta(seconds=in_seconds))


# What a recording's task is, and what it becomes once that task was lost RECORDING_MAX_REQUEUES times: a failed
# download waits for staff to retry it; a restore goes back to cold storage, where staff can ask for it again.
RECORDING_TASKS = {RecordingStatus.PENDING: download_recording, RecordingStatus.RESTORING: restore_archived_recording}
RECORDING_GIVEN_UP = {
    RecordingStatus.PENDING: (RecordingStatus.FAILED, "The download never ran: its task was lost {} times. Retry it."),
    RecordingStatus.RESTORING: (RecordingStatus.ARCHIVED,
                                "The restore never ran: its task was lost {} times. Ask for the recording again."),
}


def sweep_recordings(*, now=None):
    """The way out of a lost download or restore message: a recording whose task is RECORDING_REQUEUE_SECONDS late
    gets it queued again, or is given up (RECORDING_GIVEN_UP) after RECORDING_MAX_REQUEUES of those. A task that
    turns up after all finds the work done, or the recording no longer waiting for it, and does nothing.
    Returns {"requeued": n, "given_up": n}."""
    now = now or timezone.now()
    late = now - timedelta(seconds=settings.RECORDING_REQUEUE_SECONDS)
    counts = {"requeued": 0, "given_up": 0}
    with transaction.atomic():
        stranded = CallSession.objects.select_for_update(skip_locked=True).filter(
            recording_status__in=RECORDING_IN_FLIGHT, recording_queued_at__lt=late).order_by("pk")
        for session_id, status, requeues in stranded.values_list("pk", "recording_status", "recording_requeues"):
            row = CallSession.objects.filter(pk=session_id)
            if requeues >= settings.RECORDING_MAX_REQUEUES:
                given_up_status, error = RECORDING_GIVEN_UP[status]
                row.update(recording_status=given_up_status, recording_error=error.format(requeues + 1),
                           recording_queued_at=None, updated_at=now)
                counts["given_up"] += 1
                continue
            row.update(recording_queued_at=now, recording_requeues=F("recording_requeues") + 1, updated_at=now)
            task = RECORDING_TASKS[status]
            after_commit(lambda task=task, session_id=session_id: task.delay(session_id))
            counts["requeued"] += 1
    return counts


# --- Agent actions --------------------------------------------------------------------------

@transaction.atomic
def match_recipient(*, session, recipient, method, actor=None, request=None):
    """An agent says who is calling. `recipient` must be a live recipient of the call's campaign."""
    session = _locked(session)
    if session.gift_card_id is not None:
        raise MatchLocked()
    if recipient.campaign_id != session.campaign_id or recipient.deleted_at is not None:
        raise RecipientNotFound()
    previous = session.recipient_id
    session.recipient, session.match_method, session.agent = recipient, method, actor
    session.save(update_fields=["recipient", "match_method", "agent", "updated_at"])
    record_audit(action=AuditAction.UPDATE, obj=session, client=session.campaign.client, request=request, actor=actor,
                 changes={"recipient": [previous, recipient.pk], "match_method": method})
    return session


@transaction.atomic
def set_disposition(*, session, disposition, notes, actor=None, request=None):
    session = _locked(session)
    changes = {name: [getattr(session, name), value] for name, value in (("disposition", disposition),
                                                                          ("notes", notes))
               if getattr(session, name) != value}
    session.disposition, session.notes, session.agent = disposition, notes, actor
    session.save(update_fields=["disposition", "notes", "agent", "updated_at"])
    if changes:
        record_audit(action=AuditAction.UPDATE, obj=session, client=session.campaign.client, request=request,
                     actor=actor, changes=changes)
    return session


def award_reward(*, session, actor, request=None):
    """The agent confirmed the condition: the matched recipient gets their gift card, through the same
    redemption as the PURL and the API (idempotent, cooldown, pool locking, card log, audit with the agent).

    The call's row lock makes two clicks take turns; the second finds the card the first one claimed.
    """
    with transaction.atomic():
        session = _locked(session)
        if session.recipient_id is None:
            raise NotMatched()
        redemption = redeem(token=session.recipient.redemption_token, channel=RedemptionChannel.AGENT, actor=actor,
                            request=request)
        fields = ["disposition", "agent", "updated_at"]
        session.disposition, session.agent = Disposition.CONDITION_MET, actor
        if redemption.created:
            session.gift_card = redemption.card
            fields.append("gift_card")
            record_audit(action=AuditAction.UPDATE, obj=session, client=session.campaign.client, request=request,
                         actor=actor, changes={"gift_card": redemption.card.pk, "recipient": session.recipient_id})
        session.save(update_fields=fields)
    return redemption
