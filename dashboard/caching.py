"""Revalidated caching for pages whose data changes slowly.

The browser keeps the page and asks again on every visit (`Cache-Control: private, no-cache`); the answer is
a 304 when the page would be byte-for-byte the same, so a save shows at once and nothing stale is ever
served. The ETag hashes the rendered page minus its CSRF tokens (masked afresh on every render) plus the
CSRF secret those tokens stand for, so a reused page's forms still submit.
"""

import hashlib
import re
from functools import wraps

from django.http import HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags, quote_etag

_CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')
CACHE_CONTROL = "private, no-cache"


def page_etag(request, content):
    digest = hashlib.sha256(_CSRF_TOKEN.sub(b"", content))
    digest.update(request.META.get("CSRF_COOKIE", "").encode())
    return quote_etag(digest.hexdigest()[:40])


def revalidated(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if request.method != "GET" or response.status_code != 200 or response.streaming:
            return response
        etag = page_etag(request, response.content)
        if etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
        response["ETag"] = etag
        response["Cache-Control"] = CACHE_CONTROL
        patch_vary_headers(response, ["Cookie"])
        return response

    return wrapper
