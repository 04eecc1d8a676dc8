from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.access import clients_for
from accounts.choices import Capability
from campaigns.models import Recipient
from campaigns.normalize import normalize_phone
from campaigns.tokens import normalize_short_code

from .choices import LIVE_STATUSES, MatchMethod, TrackingNumberStatus
from .models import CallSession, TrackingNumber

# A call whose final status never arrived stops counting as live after this long.
LIVE_WINDOW = timedelta(hours=4)
MAX_CANDIDATES = 20


def e164_or_blank(raw):
    """The number in E.164, or "" for a withheld, malformed or impossible one."""
    try:
        return normalize_phone(raw)
    except ValidationError:
        return ""


def live_tracking_number(campaign_id):
    """The number printed on the campaign's pieces that still answers (the oldest if there are several), or None."""
    return TrackingNumber.objects.filter(campaign_id=campaign_id, status=TrackingNumberStatus.ACTIVE).order_by(
        "pk").first()


def calls_for_agent(user):
    """The calls of every client `user` may work calls for."""
    return CallSession.objects.filter(campaign__client__in=clients_for(user, Capability.HANDLE_CALLS)).select_related(
        "campaign", "tracking_number", "recipient", "agent"
    )


def split_live(calls, *, limit=50):
    """(live calls, recent finished ones), newest first."""
    live = {"provider_status__in": LIVE_STATUSES, "call_started_at__gte": timezone.now() - LIVE_WINDOW}
    return list(calls.filter(**live)[:limit]), list(calls.exclude(**live)[:limit])


def find_recipients(*, campaign_id, query):
    """(MatchMethod, recipients) of the campaign for what an agent typed: a printed short code or a phone number."""
    recipients = Recipient.objects.filter(campaign_id=campaign_id).order_by("pk")
    code = normalize_short_code(query)
    if code:
        return MatchMethod.AGENT_CODE, list(recipients.filter(short_code=code))
    phone = e164_or_blank(query)
    return MatchMethod.AGENT_PHONE, list(recipients.filter(phone=phone)[:MAX_CANDIDATES]) if phone else []


def caller_candidates(session):
    """The recipients sharing the caller's number, when the automatic match found several."""
    if session.match_method != MatchMethod.AMBIGUOUS or session.recipient_id is not None:
        return []
    return list(Recipient.objects.filter(campaign_id=session.campaign_id, phone=session.caller_phone)
                .order_by("pk")[:MAX_CANDIDATES])
