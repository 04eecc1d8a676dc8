"""The print vendor's mail-tracking webhook. The caller is authenticated by its signature, not by an API key."""

import hashlib
import hmac
import json
import logging
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from mobul.http import client_ip
from mobul.ratelimit import limit

from .exceptions import InvalidScanBatch, InvalidSignature, MailWebhookNotConfigured, ReplayedRequest, TooManyScans
from .mail_scans import MAX_SCANS_PER_REQUEST, record_mail_scans

logger = logging.getLogger(__name__)

TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


# Not for integrators, so not in the API docs.
@extend_schema(exclude=True)
class MailScansWebhook(APIView):
    """POST /webhooks/mail/scans/: the print vendor's delivery scans, feeding `mail_delivered` / `mail_returned`.

    Signing. Every request carries two headers:
        X-Mobul-Timestamp: <unix seconds when the request was signed>
        X-Mobul-Signature: sha256=<hex>
    where hex = HMAC-SHA256(key=MAIL_WEBHOOK_SECRET, message=b"<timestamp>.<raw body bytes>"): the timestamp's
    digits, a dot, then the body exactly as sent. A missing or malformed header, a wrong signature, or a timestamp
    more than MAIL_WEBHOOK_TOLERANCE_SECONDS (default 300) from our clock is a 401 `invalid_signature`. Without a
    configured secret the endpoint answers 503 `webhook_not_configured` and accepts nothing.

    Rate limit. RATELIMITS["webhook"] (50/min) per client IP, counted before the signature is checked, so that
    unsigned or badly signed floods are limited too; past it a 429 with Retry-After. When Redis is down, requests
    pass (the signature still decides).

    Replays. The same signed request a second time is a 409 `replayed`. A retry must be signed again with a new
    timestamp; scans it repeats are counted as duplicates (by `scan_id`), never recorded twice.

    Body: {"scans": [{"scan_id": "...", "redemption_token": "...", "status": "delivered" | "returned",
    "scanned_at": "ISO-8601 with a time zone", "reason": "optional, for returns"}]}, at most 1,000 scans.
    Answer 200: {"accepted": n, "duplicates": n, "errors": [{"index": i, "code": "...", "message": "..."}]};
    a bad scan is an entry in "errors", a body that is not such an object is a 400.
    """

    # No API key or session, so no CSRF check either (APIView.as_view() exempts the view): the signature is
    # the authentication.
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        secret = getattr(settings, "MAIL_WEBHOOK_SECRET", "")
        if not secret:
            raise MailWebhookNotConfigured()
        limit(request, "webhook", keys={"mail-scans:ip": None}, fail_open=True)
        tolerance = getattr(settings, "MAIL_WEBHOOK_TOLERANCE_SECONDS", 300)
        try:
            body = request.body
        except RequestDataTooBig:
            message = f"The body is too large; send at most {MAX_SCANS_PER_REQUEST:,} scans per request."
            raise TooManyScans(message) from None
        signature = _verified_signature(request, body, secret=secret, tolerance=tolerance)
        scans = _scans(body)
        # The signature covers the timestamp, so it names this one request. Its timestamp may be up to `tolerance`
        # behind or ahead of our clock, so it stays acceptable at most 2 x tolerance seconds: the key outlives that.
        replay_key = f"mail-webhook:{signature}"
        if not cache.add(replay_key, 1, timeout=tolerance * 2):
            raise ReplayedRequest()
        try:
            report = record_mail_scans(scans=scans)
        except Exception:
            # The batch's writes were rolled back together, so the vendor's identical retry must get through (and
            # the scan ids would keep it from counting anything twice if they were not).
            cache.delete(replay_key)
            raise
        return Response(report.as_dict())


def _verified_signature(request, body, *, secret, tolerance):
    """The request's signature (lower-case hex) once it checks out; InvalidSignature otherwise."""
    timestamp = request.headers.get("X-Mobul-Timestamp", "")
    match = SIGNATURE.fullmatch(request.headers.get("X-Mobul-Signature", ""))
    if not TIMESTAMP.fullmatch(timestamp) or match is None:
        _refuse(request, "Sign the request: X-Mobul-Timestamp: <unix seconds> and X-Mobul-Signature: sha256=<hex>.")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    signature = match.group(1).lower()
    if not hmac.compare_digest(expected, signature):
        _refuse(request, "The signature does not match the body and timestamp.")
    if abs(time.time() - int(timestamp)) > tolerance:
        _refuse(request, f"The timestamp is more than {tolerance} seconds away from our clock; sign requests "
                         "when sending them.")
    return signature


def _refuse(request, message):
    # A stream of these means a misconfigured vendor secret or someone probing the endpoint.
    logger.warning("Mail webhook refused from %s: %s", client_ip(request), message)
    raise InvalidSignature(message)


def _scans(body):
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidScanBatch("The body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("scans"), list):
        raise InvalidScanBatch('The body must be a JSON object with a "scans" list.', field="scans")
    return data["scans"]
