"""Rate limits by django-ratelimit on the Redis cache, configured in settings.RATELIMITS ("10/m", "100/h", "5/10s").

Each key of a request is counted by django_ratelimit.core.get_usage: a counter per key and fixed window, each key's
window offset by a hash of the key so that windows do not all turn over at once.
"""

import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from .exceptions import DomainError
from .http import client_ip

logger = logging.getLogger(__name__)


def wait_text(seconds):
    """"24 seconds", "3 minutes", "2 hours": how long to wait, rounded up to a unit people read at a glance."""
    for unit, length in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * length:
            count = -(-seconds // length)
            return f"{count} {unit}s"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, *, retry_after):
        super().__init__(f"Too many requests. Please wait {wait_text(retry_after)} and try again.",
                         retry_after=retry_after)


class LimiterUnavailable(DomainError):
    code = "temporarily_unavailable"
    status = 503
    default_message = "This service is briefly unavailable. Please try again in a minute."


def _count(request, group, rate, name, identity):
    """get_usage() of one key, counting this request; None when Redis did not count it."""
    try:
        usage = get_usage(request, group=group, key=lambda _group, _request: f"{name}:{identity}", rate=rate,
                          increment=True)
    except (ConnectionInterrupted, RedisError):
        return None
    # A counted request makes the count at least 1; get_usage answers a count of 0 when the cache failed it.
    return usage if usage is not None and usage["count"] else None


def limit(request, group, *, keys, fail_open=False):
    """Counts this request against `group`'s rate for each key; raises RateLimited past it.

    `keys` maps a name to a value; the value None stands for the client's IP. When Redis cannot be
    reached the request is refused (503) unless `fail_open`, in which case it passes with a warning.
    The usage nearest its limit ({"limit", "remaining", "reset"}) is returned and left on the request,
    for RateLimitHeadersMiddleware to send (a refused request's too: remaining 0, reset when it may retry);
    None when the limiter was switched off, or unavailable and the request let through.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):  # switched off, e.g. to measure what a check costs
        return None
    rate = settings.RATELIMITS[group]
    usages = []
    for name, value in keys.items():
        usage = _count(request, group, rate, name, client_ip(request) if value is None else value)
        if usage is None:
            if fail_open:
                logger.warning("rate limiter unavailable; letting %s through", group)
                return None
            logger.error("rate limiter unavailable; refusing %s", group)
            raise LimiterUnavailable()
        usages.append(usage)
    http_request = getattr(request, "_request", request)  # the HttpRequest under a DRF Request
    refused = [usage for usage in usages if usage["should_limit"]]
    if refused:
        # Refused until every key over its limit has started a new window.
        wait = max(1, *(usage["time_left"] for usage in refused))
        http_request.ratelimit_usage = {"limit": refused[0]["limit"], "remaining": 0, "reset": wait}
        raise RateLimited(retry_after=wait)
    nearest = min(usages, key=lambda usage: usage["limit"] - usage["count"])
    tightest = {"limit": nearest["limit"], "remaining": nearest["limit"] - nearest["count"],
                "reset": max(0, nearest["time_left"])}
    http_request.ratelimit_usage = tightest
    return tightest
