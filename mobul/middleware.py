import logging
import re
import uuid
from contextvars import ContextVar

from .http import client_ip

request_id_var = ContextVar("request_id", default="-")
# The request's client IP, and the objects already audited while serving it (see accounts.audit).
client_ip_var = ContextVar("client_ip", default=None)
audited_var = ContextVar("audited", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id():
    return request_id_var.get()


def current_client_ip():
    return client_ip_var.get()


def audited_in_this_request():
    """The set of (object type, object id) audited so far in this request; None outside requests."""
    return audited_var.get()


class RequestIdMiddleware:
    """Tags each request (and its log lines) with an id: the caller's X-Request-ID when it is sane."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        tokens = (request_id_var.set(request_id), client_ip_var.set(client_ip(request) or None),
                  audited_var.set(set()))
        try:
            response = self.get_response(request)
        finally:
            for var, token in zip((request_id_var, client_ip_var, audited_var), tokens):
                var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True


class RateLimitHeadersMiddleware:
    """Tells API callers where they stand: X-RateLimit-Limit / -Remaining / -Reset (seconds) on responses
    to requests a rate limit counted (see mobul.ratelimit), refusals included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # A request the limit refused carries remaining 0; one it let through and something else refused (the
        # redemption cooldown, for one recipient) carries what is left of the limit for the caller's other requests.
        usage = getattr(request, "ratelimit_usage", None)
        if usage is not None:
            response["X-RateLimit-Limit"] = str(usage["limit"])
            response["X-RateLimit-Remaining"] = str(max(0, usage["remaining"]))
            response["X-RateLimit-Reset"] = str(max(0, usage["reset"]))
        return response
