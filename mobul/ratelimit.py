"""Rate limits on atomic Redis counters (django-ratelimit), configured in settings.RATELIMITS."""

import logging

from django.conf import settings
from django_ratelimit.core import is_ratelimited

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


def _window_seconds(rate):
    unit = rate.split("/")[1]
    return {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit[-1]] * (int(unit[:-1]) if unit[:-1] else 1)


def limit(request, group, *, keys, fail_open=False):
    """Counts this request against `group`'s rate for each key; raises RateLimited past it.

    `keys` maps a name to a value; the value None stands for the client's IP. When Redis cannot be
    reached the request is refused (503) unless `fail_open`, in which case it passes with a warning.
    """
    rate = settings.RATELIMITS[group]
    for name, value in keys.items():
        identity = client_ip(request) if value is None else str(value)
        try:
            limited = is_ratelimited(request, group=f"{group}:{name}", key=lambda _group, _request: identity,
                                     rate=rate, increment=True)
        except Exception:
            if fail_open:
                logger.warning("rate limiter unavailable; letting %s through", group, exc_info=True)
                return
            logger.error("rate limiter unavailable; refusing %s", group, exc_info=True)
            raise LimiterUnavailable() from None
        if limited:
            raise RateLimited(retry_after=_window_seconds(rate))
