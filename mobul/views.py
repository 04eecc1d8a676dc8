from django.http import JsonResponse


def constant(request):
    """The same answer every time, through the whole middleware stack: what the framework alone costs."""
    return JsonResponse({"ok": True})
