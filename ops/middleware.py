import logging
import time

from . import latency

logger = logging.getLogger(__name__)


class RequestMetricsMiddleware:
    """Times every request and counts it per endpoint in Redis (see latency.py). Files served before URL
    routing (static files) are not counted; a Redis failure costs the figure, never the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        match = getattr(request, "resolver_match", None)
        if match is None and response.status_code < 400:
            return response
        endpoint = latency.endpoint_label(request.method, match.route) if match else latency.UNMATCHED
        try:
            latency.record(endpoint, duration_ms, error=response.status_code >= 500)
        except Exception:
            logger.warning("Request metrics not recorded", exc_info=True)
        return response
