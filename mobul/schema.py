"""OpenAPI generation: what every operation shares, stated once (the Idempotency-Key header, the one error
shape on every status an operation can answer with)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .idempotency import HEADER, MAX_KEY_LENGTH

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `invalid`, `not_found`, `rate_limited`.")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")
    field = serializers.CharField(allow_null=True, help_text="The input field at fault (dotted when nested), if any.")
    details = serializers.DictField(
        required=False, help_text="Validation errors only: every message, keyed by field."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `error.field` names the first bad field, `error.details` holds every message.",
    401: "No credentials, or an unknown, malformed or revoked API key.",
    403: "The API key's scopes or the user's role do not allow this.",
    404: "Not found (another client's objects are not found either).",
    409: "The request conflicts with the current state of the object.",
    429: "Too many requests: try again after `Retry-After` seconds.",
    503: "A service this request needs is briefly unavailable: try again in a minute.",
}

RETRY_AFTER_HEADER = {
    "Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait before retrying."},
}
# Sent by mobul.middleware.RateLimitHeadersMiddleware on every answer a rate limit counted.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests allowed per window."},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in this window."},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until the window starts again."},
}


def error_response(status, description=None):
    """For @extend_schema on a view whose errors the generic rules below cannot foresee."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


class AutoSchema(SpectacularAutoSchema):
    """Adds the error responses an operation can give, unless the view documents that status itself."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status in self._error_statuses(operation):
            content = {"application/json": {"schema": error_ref}}
            responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status], "content": content})
        if "429" in responses:
            responses["429"].setdefault("headers", {}).update(RETRY_AFTER_HEADER)
        for response in responses.values():
            response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation):
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        query_names = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
        statuses = {429}  # every route is rate limited: per API key, per user, or per client IP and token
        if "requestBody" in operation or "query" in locations:
            statuses.add(400)
        if {} not in operation.get("security", [{}]):
            statuses |= {401, 403}
            if self.method in WRITE_METHODS:
                statuses.add(503)  # the API rate limit lets writes through only when it can count them
        # DRF's paginators answer a page past the end, or a cursor they did not issue, with 404.
        if "path" in locations or query_names & {"page", "cursor"}:
            statuses.add(404)
        if self.method in WRITE_METHODS:
            statuses.add(409)
        return sorted(statuses)


def document_idempotency_key(result, generator, request, public):
    """Every POST accepts an Idempotency-Key header (see mobul.idempotency)."""
    parameter = {
        "in": "header", "name": HEADER, "required": False,
        "description": "Any unique string (a UUID): a retry with the same key and body gets the first response "
                       "back instead of doing the work twice. Kept 24 hours; reusing a key for a different "
                       "request is a 409.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }
    for operations in result.get("paths", {}).values():
        if "post" in operations:
            operations["post"].setdefault("parameters", []).append(parameter)
    return result
