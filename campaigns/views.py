"""The recipient's personal landing page (PURL) and the page where a printed code can be typed in."""

import math

from django.db import transaction
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

import analytics
import webhooks
from analytics.choices import EventSource, EventType

from calltracking.selectors import live_tracking_number
from giftcards.choices import RedemptionChannel
from giftcards.exceptions import PoolExhausted
from giftcards.selectors import reward_outlook
from giftcards.services import redeem
from mobul.exceptions import DomainError
from mobul.ratelimit import limit
from webhooks.choices import EventType as WebhookEvent

from .choices import CLOSED_STATUSES, MAILED_STATUSES, RESPONDING_STATUSES, CampaignStatus
from .models import Recipient
from .normalize import display_phone
from .tokens import looks_like_token, normalize_short_code


RETRY_MESSAGE = "We could not get your gift card just now. Please try again in a moment."


def _not_found(request):
    return render(request, "campaigns/landing_not_found.html", status=404)


def _recipient_or_none(token):
    if not looks_like_token(token):
        return None
    return Recipient.objects.select_related("campaign__client").filter(redemption_token=token).first()


@never_cache
@require_http_methods(["GET"])
def landing(request, token):
    recipient = _recipient_or_none(token)
    if recipient is None:
        return _not_found(request)
    campaign = recipient.campaign
    via_qr = request.GET.get("via") == "qr"
    if campaign.status in MAILED_STATUSES:
        with transaction.atomic():
            event = analytics.record_event(
                event_type=EventType.QR_SCANNED if via_qr else EventType.PURL_VIEWED,
                campaign_id=campaign.pk,
                recipient_id=recipient.pk,
                source=EventSource.QR if via_qr else EventSource.PURL,
                payload={"user_agent": request.headers.get("User-Agent", "")[:200]},
                count_later=True,
            )
            webhooks.publish(
                client_id=campaign.client_id,
                event_type=WebhookEvent.RECIPIENT_SCANNED if via_qr else WebhookEvent.RECIPIENT_VISITED,
                data={"recipient_id": recipient.pk, "campaign_id": campaign.pk, "at": event.created_at},
                occurred_at=event.created_at,
            )
    return _render_landing(request, recipient)


def _render_landing(request, recipient, *, outlook=None, claim_error="", status=200):
    """What the page says about the reward comes from the recipient's own state: the claim button is there
    only when a claim would succeed."""
    campaign = recipient.campaign
    outlook = outlook or reward_outlook(recipient)
    number = live_tracking_number(campaign.pk)
    context = {
        "recipient": recipient,
        "campaign": campaign,
        "client": campaign.client,
        "is_open": campaign.status in RESPONDING_STATUSES,
        "is_paused": campaign.status == CampaignStatus.PAUSED,
        "has_ended": campaign.status in CLOSED_STATUSES,
        "outlook": outlook,
        "wait_minutes": math.ceil(outlook.wait_seconds / 60),
        "claim_error": claim_error,
        "phone": {"e164": number.phone_number, "display": display_phone(number.phone_number)} if number else None,
    }
    response = render(request, "campaigns/landing.html", context, status=status)
    # The page may show a gift-card code: no shared or browser cache may keep it.
    response["Cache-Control"] = "no-store, private"
    return response


@require_http_methods(["GET"])
def logo(request, token):
    """The client's logo for its recipients' pages, from our own origin: the CSP lets images come from nowhere
    else, and storage URLs (S3) are on another host. Not secret, so caches may keep it; the page's link names the
    file, so a new logo is a new URL."""
    recipient = _recipient_or_none(token)
    if recipient is None or not recipient.campaign.client.logo:
        return _not_found(request)
    try:
        image = recipient.campaign.client.logo.open("rb")
    except FileNotFoundError:
        return _not_found(request)
    response = FileResponse(image)
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_http_methods(["POST"])
def claim(request, token):
    """The recipient claims their reward from their personal page (same service as the API and agents)."""
    recipient = _recipient_or_none(token)
    if recipient is None:
        return _not_found(request)
    try:
        limit(request, "redemption", keys={"ip": None, "token": token})
        redeem(token=token, channel=RedemptionChannel.WEB, request=request)
    except DomainError as error:
        recipient.refresh_from_db()
        outlook = reward_outlook(recipient)
        # The page explains a refusal that the recipient's state accounts for (ended, no card left, cooldown);
        # one it does not (the rate limit, or free cards all taken by claims in flight) is said here.
        claim_error = ""
        if outlook.can_claim:
            claim_error = RETRY_MESSAGE if isinstance(error, PoolExhausted) else error.message
        return _render_landing(request, recipient, outlook=outlook, claim_error=claim_error, status=error.status)
    return redirect("campaigns:landing", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
def enter_code(request):
    error = ""
    if request.method == "POST":
        code = normalize_short_code(request.POST.get("code", ""))
        recipient = Recipient.objects.filter(short_code=code).only("redemption_token").first() if code else None
        if recipient is not None:
            return redirect("campaigns:landing", token=recipient.redemption_token)
        error = "We could not find that code. Check it against your mail piece: 10 letters and digits."
    return render(request, "campaigns/enter_code.html", {"error": error}, status=400 if error else 200)
