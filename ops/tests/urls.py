"""The project's URLs plus a view whose time and status the latency tests choose."""

import time

from django.http import HttpResponse
from django.urls import path

from mobul.urls import urlpatterns as project_urlpatterns


def timed(request, ms):
    time.sleep(ms / 1000)
    return HttpResponse(status=int(request.GET.get("status", 200)))


urlpatterns = [path("test/timed/<int:ms>/", timed), *project_urlpatterns]
