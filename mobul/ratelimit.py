"""Rate limits on atomic Redis counters (django-ratelimit), configured in settings.RATELIMITS."""

import logging

from django.conf import settings
from django_ratelimit.core import get_usage

from .exceptions import DomainError
from .http import client_ip

logger = logging.getLogger(__name__)


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests. Please wait a minute and try again."


class LimiterUnavailable(DomainError):
    code = "temporarily_unavailable"
    status = 503
    default_message = "This service is briefly unavailable. Please try again in a minute."


def limit(request, group, *, keys, fail_open=False):
    """Counts this request against `group`'s rate for each key; raises RateLimited past it.

    `keys` maps a name to a value; the value None stands for the client's IP. When Redis cannot be
    reached the request is refused (503) unless `fail_open`, in which case it passes with a warning.
    The usage nearest its limit ({"limit", "remaining", "reset"}) is returned and left on the request,
    for RateLimitHeadersMiddleware to send; None when the limiter was unavailable and the request let through.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):  # switched off, e.g. to measure what a check costs
        return None
    rate = settings.RATELIMITS[group]
    tightest = None
    for name, value in keys.items():
        identity = client_ip(request) if value is None else str(value)
        try:
            usage = get_usage(request, group=f"{group}:{name}", key=lambda _group, _request: identity,
                              rate=rate, increment=True)
        except Exception:
            usage = None
        if usage is None or usage["limit"] == 0:  # the counter could not be read or written
            if fail_open:
                logger.warning("rate limiter unavailable; letting %s through", group)
                return None
            logger.error("rate limiter unavailable; refusing %s", group)
            raise LimiterUnavailable()
        if usage["should_limit"]:
            raise RateLimited(retry_after=max(1, usage["time_left"]))
        remaining = usage["limit"] - usage["count"]
        if tightest is None or remaining < tightest["remaining"]:
            tightest = {"limit": usage["limit"], "remaining": remaining, "reset": usage["time_left"]}
    getattr(request, "_request", request).ratelimit_usage = tightest  # the HttpRequest under a DRF Request
    return tightest
