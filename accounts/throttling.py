"""The API's rate limit: settings.RATELIMITS["api"] per API key, or per signed-in user."""

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from mobul.ratelimit import limit

from .access import request_actor


class ApiRateThrottle(BaseThrottle):
    """Counts every authenticated API request on Redis; past the limit, a 429 in the API's error shape.

    When Redis is unreachable, reads pass (with a logged warning) and writes get a 503."""

    def allow_request(self, request, view):
        user, api_key = request_actor(request)
        if api_key is None and user is None:
            return True  # public endpoints carry limits of their own
        principal = f"key:{api_key.pk}" if api_key is not None else f"user:{user.pk}"
        limit(request, "api", keys={"principal": principal}, fail_open=request.method in SAFE_METHODS)
        return True
