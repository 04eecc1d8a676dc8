"""Twilio's voice webhooks. The caller is authenticated by X-Twilio-Signature, not by an API key or session.

Every request is checked in this order: an auth token is configured (else 503, nothing accepted), the signature
matches (else 403, nothing changed). Then only a new call is rate limited (RATELIMITS["webhook"] per tracking
number, or per Twilio account when the number is not known), and turned away busy past it: a call we accepted
sends about four callbacks (its forwarded leg answered and completed, its own outcome, its recording), and every
one of them, like a retry of the call's own webhook, is applied whatever the rate. Errors have the API's JSON
error shape; the voice webhook answers a caller with TwiML even when it turns them away.
"""

import logging

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from mobul.ratelimit import RateLimited, limit

from . import services
from .models import CallSession
from .providers import twilio
from .selectors import e164_or_blank

logger = logging.getLogger(__name__)


def _limit_new_call(request, call):
    """Counts a call we have no session of yet; RateLimited past the rate. A retry of an accepted call passes."""
    if CallSession.objects.filter(provider_call_id=call.call_id).exists():
        return
    number = e164_or_blank(call.called)
    key = {"voice:number": number} if number else {"voice:account": request.POST.get("AccountSid", "")}
    # The request is signed, so it is Twilio's: when Redis is down, let it through rather than lose a call.
    limit(request, "webhook", keys=key, fail_open=True)


def _twiml(body):
    return HttpResponse(body, content_type=twilio.RESPONSE_CONTENT_TYPE)


# Not for integrators, so not in the API docs.
@extend_schema(exclude=True)
class TwilioWebhook(APIView):
    # No API key or session, so no CSRF check either (APIView.as_view() exempts the view): the signature is
    # the authentication.
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        twilio.verify(request)


class VoiceWebhook(TwilioWebhook):
    """POST /webhooks/twilio/voice/: a call comes in. Answers TwiML that forwards it (recorded when enabled)."""

    def post(self, request):
        call = twilio.inbound_call(request.POST)
        try:
            _limit_new_call(request, call)
        except RateLimited:
            logger.warning("Voice webhook over the rate limit for %s: call %s turned away busy", call.called,
                           call.call_id)
            return _twiml(twilio.busy_response())
        tracking_number, session = services.start_call(provider=twilio.NAME, call=call)
        if tracking_number is None:
            logger.warning("Call %s to %s, which is not an active tracking number", call.call_id, call.called)
            return _twiml(twilio.unknown_number_response())
        return _twiml(twilio.forward_call_response(tracking_number))


class StatusWebhook(TwilioWebhook):
    """POST /webhooks/twilio/status/: status callbacks of a call and of its forwarded leg."""

    def post(self, request):
        update = twilio.status_update(request.POST)
        if services.update_call_status(update=update) is None:
            logger.info("Status callback for unknown call %s ignored", update.call_id)
        return HttpResponse(status=204)


class RecordingWebhook(TwilioWebhook):
    """POST /webhooks/twilio/recording/: a recording is ready; it is downloaded in the background."""

    def post(self, request):
        notice = twilio.recording_notice(request.POST)
        if services.register_recording(notice=notice) is None and notice.ready:
            logger.info("Recording callback for unknown call %s ignored", notice.call_id)
        return HttpResponse(status=204)
