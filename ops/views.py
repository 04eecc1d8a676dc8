from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import run_checks


@never_cache
@require_GET
def health(request):
    checks = run_checks()
    down = sorted(name for name, result in checks.items() if not result["ok"])
    body = {"status": "ok" if not down else "unavailable", "down": down, "checks": checks}
    return JsonResponse(body, status=503 if down else 200)
