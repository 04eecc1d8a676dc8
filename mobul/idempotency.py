"""Idempotency-Key on the API's POSTs: a retried request gets the first response back instead of a second effect.

The first response to (caller, key) is kept for IDEMPOTENCY_TTL_SECONDS and replayed for the same request;
the same key with a different request is a 409, and so is a retry that arrives while the first is still
running. The caller is the credential (API key or session user), so two callers never share keys. A
replay runs no view and returns only what that caller already received.
"""

import hashlib
import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse

from .api import error_body

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# How long a first request may run before its key is free again (it crashed without a response).
PENDING_SECONDS = 120
# Larger responses are not kept (POST answers are small; this is a guard, not a feature).
MAX_STORED_BYTES = 1024 * 1024
KEPT_HEADERS = ("Content-Type", "Location", "Retry-After")


def _error(status, code, message):
    return HttpResponse(json.dumps(error_body(code, message, "Idempotency-Key")), status=status,
                        content_type="application/json")


def _caller(request):
    credential = request.headers.get("Authorization") or request.headers.get("X-API-Key")
    if credential:
        return "credential:" + hashlib.sha256(credential.encode()).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


def _fingerprint(request):
    digest = hashlib.sha256(request.path.encode())
    # A multipart body differs on every send (its boundary) and may be large: the path stands for it.
    if not request.content_type.startswith("multipart/"):
        digest.update(request.body)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            return _error(400, "invalid_idempotency_key",
                          f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
        cache_key = "idempotency:{}:{}".format(_caller(request), hashlib.sha256(key.encode()).hexdigest())
        fingerprint = _fingerprint(request)
        try:
            claimed = cache.add(cache_key, {"fingerprint": fingerprint}, PENDING_SECONDS)
            stored = None if claimed else cache.get(cache_key)
        except Exception:
            logger.warning("idempotency store unavailable; handling the request without it", exc_info=True)
            return self.get_response(request)
        if stored is not None:
            return self._replay(stored, fingerprint)
        response = self.get_response(request)
        self._keep(cache_key, fingerprint, response)
        return response

    @staticmethod
    def _replay(stored, fingerprint):
        if stored["fingerprint"] != fingerprint:
            return _error(409, "idempotency_key_reused",
                          "This Idempotency-Key was already used for a different request.")
        if "status" not in stored:
            response = _error(409, "idempotency_key_in_use",
                              "A request with this Idempotency-Key is still being processed; retry shortly.")
            response["Retry-After"] = "1"
            return response
        response = HttpResponse(stored["content"], status=stored["status"])
        for name, value in stored["headers"].items():
            response[name] = value
        response[REPLAYED_HEADER] = "true"
        return response

    @staticmethod
    def _keep(cache_key, fingerprint, response):
        try:
            if response.status_code >= 500 or response.streaming or len(response.content) > MAX_STORED_BYTES:
                cache.delete(cache_key)  # nothing worth replaying: the caller may retry for real
                return
            cache.set(cache_key, {
                "fingerprint": fingerprint, "status": response.status_code, "content": response.content,
                "headers": {name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
            }, settings.IDEMPOTENCY_TTL_SECONDS)
        except Exception:
            logger.warning("could not keep the response for its Idempotency-Key", exc_info=True)
