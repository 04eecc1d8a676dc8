"""Rate limits on atomic Redis counters, configured in settings.RATELIMITS ("10/m", "100/h", "5/10s").

Fixed windows, as django-ratelimit counts them (each key's window offset by a hash of the key, so windows do not
all turn over at once), but all of a request's keys are counted in one round trip to Redis instead of two per key.
"""

import hashlib
import logging
import time
import zlib

from django.conf import settings
from django.core.cache import caches
from django_redis import get_redis_connection

from .exceptions import DomainError
from .http import client_ip
from .redis_scripts import registered_script

logger = logging.getLogger(__name__)

RATELIMIT_CACHE = "default"  # a django-redis cache: its Redis holds the counters, under its key prefix
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Kept a little past its window, so a counter read at the very end of its window is still there.
EXPIRY_MARGIN_SECONDS = 2
# Each counter goes up by one; a new one gets its window's expiry.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests. Please wait a minute and try again."


class LimiterUnavailable(DomainError):
    code = "temporarily_unavailable"
    status = 503
    default_message = "This service is briefly unavailable. Please try again in a minute."


def parse_rate(rate):
    """(requests, seconds) of a rate such as "10/m" or "5/10s"."""
    count, _, period = rate.partition("/")
    return int(count), int(period[:-1] or 1) * PERIODS[period[-1]]


def _window_end(identity, period, now):
    end = now - now % period + zlib.crc32(identity.encode()) % period
    return end if end >= now else end + period


def count_requests(counters):
    """Counts one request against each of `counters` [(key, seconds to expiry)]; their counts, in one round trip."""
    connection = get_redis_connection(RATELIMIT_CACHE)
    return registered_script(connection, COUNT_SCRIPT)(keys=[key for key, _ in counters], args=[ttl for _, ttl in counters])


def limit(request, group, *, keys, fail_open=False):
    """Counts this request against `group`'s rate for each key; raises RateLimited past it.

    `keys` maps a name to a value; the value None stands for the client's IP. When Redis cannot be
    reached the request is refused (503) unless `fail_open`, in which case it passes with a warning.
    The usage nearest its limit ({"limit", "remaining", "reset"}) is returned and left on the request,
    for RateLimitHeadersMiddleware to send; None when the limiter was unavailable and the request let through.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):  # switched off, e.g. to measure what a check costs
        return None
    cache = caches[RATELIMIT_CACHE]
    rate = settings.RATELIMITS[group]
    allowed, period = parse_rate(rate)
    now = int(time.time())
    windows, counters = [], []
    for name, value in keys.items():
        identity = client_ip(request) if value is None else str(value)
        end = _window_end(identity, period, now)
        digest = hashlib.md5(f"{group}:{name}:{rate}:{identity}:{end}".encode(), usedforsecurity=False).hexdigest()
        windows.append(end)
        counters.append((cache.make_key(f"ratelimit:{digest}"), end - now + EXPIRY_MARGIN_SECONDS))
    try:
        counts = count_requests(counters)
    except Exception:
        if fail_open:
            logger.warning("rate limiter unavailable; letting %s through", group)
            return None
        logger.error("rate limiter unavailable; refusing %s", group)
        raise LimiterUnavailable() from None
    tightest = None
    for count, end in zip(counts, windows):
        if count > allowed:
            raise RateLimited(retry_after=max(1, end - now))
        if tightest is None or allowed - count < tightest["remaining"]:
            tightest = {"limit": allowed, "remaining": allowed - count, "reset": end - now}
    getattr(request, "_request", request).ratelimit_usage = tightest  # the HttpRequest under a DRF Request
    return tightest
