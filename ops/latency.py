"""Request latency and errors per endpoint, counted in Redis so every web process adds to the same figures.

Each request costs one Redis round trip (a Lua script): it increments its latency bucket, the request count,
the time sum and (for a 5xx) the error count, in two hashes: the current minute's (expires after two hours; the
monitoring page and the alerts read the recent minutes) and the all-time totals (for /metrics, whose
counters must only go up). Percentiles come from the buckets, as Prometheus computes them: the value is
interpolated inside the bucket holding the rank, so it is exact to the bucket's width.
"""

import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

from django_redis import get_redis_connection

from mobul.redis_scripts import registered_script

# Upper bounds of the latency buckets, in milliseconds (the last one catches everything slower).
BUCKETS_MS = (5, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 2500, 5000, 10000, math.inf)
MINUTE_KEY_TTL = 2 * 60 * 60
KEY_PREFIX = "mobul:ops:http"
TOTALS_KEY = f"{KEY_PREFIX}:total"
UNMATCHED = "(no route)"
# Probes are counted but left out of the overall figures the alerts judge.
PROBES = ("GET /metrics", "GET /health/")
_SEP = "\t"


def minute_key(minute):
    return f"{KEY_PREFIX}:minute:{minute}"


def redis():
    return get_redis_connection("default")


@lru_cache(maxsize=1024)
def endpoint_label(method, route):
    """"GET /api/v1/campaigns/{pk}/" from a URL pattern (path converters or DRF's router regexes): one label per
    route, never per URL, so the number of series stays small."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    route = route.replace("^", "").replace("$", "").replace("\\", "")
    return f"{method} /{route}"


def bucket_index(duration_ms):
    for index, bound in enumerate(BUCKETS_MS):
        if duration_ms <= bound:
            return index
    return len(BUCKETS_MS) - 1


# One round trip and one command per request: the increments run inside Redis.
RECORD_SCRIPT = """
for i = 1, 2 do
    redis.call('HINCRBY', KEYS[i], ARGV[1], 1)
    redis.call('HINCRBY', KEYS[i], ARGV[2], 1)
    redis.call('HINCRBY', KEYS[i], ARGV[3], ARGV[4])
    if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[i], ARGV[5], 1) end
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
"""


def record(endpoint, duration_ms, *, error, now=None):
    """Counts one request. `error`: the response was a server error (5xx)."""
    minute = int((now or time.time()) // 60)
    connection = redis()
    registered_script(connection, RECORD_SCRIPT)(
        keys=[minute_key(minute), TOTALS_KEY],
        args=[f"{endpoint}{_SEP}{bucket_index(duration_ms)}", f"{endpoint}{_SEP}count", f"{endpoint}{_SEP}sum_us",
              int(duration_ms * 1000), f"{endpoint}{_SEP}errors" if error else "", MINUTE_KEY_TTL],
    )


@dataclass
class EndpointStats:
    endpoint: str
    buckets: list = field(default_factory=lambda: [0] * len(BUCKETS_MS))
    count: int = 0
    errors: int = 0
    sum_ms: float = 0.0

    def add(self, kind, value):
        if kind == "count":
            self.count += value
        elif kind == "errors":
            self.errors += value
        elif kind == "sum_us":
            self.sum_ms += value / 1000
        else:
            self.buckets[int(kind)] += value

    def merge(self, other):
        self.count += other.count
        self.errors += other.errors
        self.sum_ms += other.sum_ms
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, other.buckets, strict=True)]

    @property
    def error_rate_percent(self):
        return 100 * self.errors / self.count if self.count else 0.0

    @property
    def mean_ms(self):
        return self.sum_ms / self.count if self.count else 0.0

    @property
    def p50(self):
        return self.percentile(50)

    @property
    def p95(self):
        return self.percentile(95)

    @property
    def p99(self):
        return self.percentile(99)

    def percentile(self, q):
        """The q-th percentile (0-100) in ms, interpolated within its bucket; None without requests. A rank in
        the open-ended last bucket reports the last finite bound (the real value is at least that)."""
        if not self.count:
            return None
        rank, seen = q / 100 * self.count, 0
        for index, in_bucket in enumerate(self.buckets):
            if in_bucket and seen + in_bucket >= rank:
                lower = BUCKETS_MS[index - 1] if index else 0
                upper = BUCKETS_MS[index]
                if math.isinf(upper):
                    return float(lower)
                return lower + (upper - lower) * (rank - seen) / in_bucket
            seen += in_bucket
        return float(BUCKETS_MS[-2])


def _parse(raw, into):
    for raw_field, raw_value in raw.items():
        endpoint, kind = raw_field.decode().rsplit(_SEP, 1)
        into.setdefault(endpoint, EndpointStats(endpoint)).add(kind, int(raw_value))
    return into


def recent(minutes=60, *, now=None):
    """{endpoint: EndpointStats} over the last `minutes` minutes, this one included."""
    current = int((now or time.time()) // 60)
    pipe = redis().pipeline(transaction=False)
    for minute in range(current - minutes + 1, current + 1):
        pipe.hgetall(minute_key(minute))
    stats = {}
    for raw in pipe.execute():
        _parse(raw, stats)
    return stats


def overall(stats):
    """Every endpoint's requests together, probes left out."""
    total = EndpointStats("(all)")
    for endpoint, endpoint_stats in stats.items():
        if endpoint not in PROBES:
            total.merge(endpoint_stats)
    return total


def totals():
    """{endpoint: EndpointStats} since counting began (for /metrics)."""
    return _parse(redis().hgetall(TOTALS_KEY), {})
