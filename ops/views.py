from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics as prometheus
from .health import run_checks


@never_cache
@require_GET
def health(request):
    checks = run_checks()
    down = sorted(name for name, result in checks.items() if not result["ok"])
    body = {"status": "ok" if not down else "unavailable", "down": down, "checks": checks}
    return JsonResponse(body, status=503 if down else 200)


@never_cache
@require_GET
def metrics(request):
    if not prometheus.allowed(request):
        return HttpResponseForbidden("Send the METRICS_TOKEN as a bearer token, or scrape from METRICS_ALLOWED_IPS.\n",
                                     content_type="text/plain")
    return HttpResponse(prometheus.render(), content_type=CONTENT_TYPE_LATEST)
