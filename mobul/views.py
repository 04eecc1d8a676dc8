from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static


def constant(request):
    """The same answer every time, through the whole middleware stack: what the framework alone costs."""
    return JsonResponse({"ok": True})


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links; the icon is a static file (hashed name in production,
    so it is looked up per request rather than when the URL conf loads)."""
    return HttpResponsePermanentRedirect(static("dashboard/favicon.svg"))
