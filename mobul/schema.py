"""OpenAPI generation: what every operation shares, stated once (the Idempotency-Key header, the one error
shape on every status an operation can answer with, which ids must be the caller's own)."""

from django_filters import ModelChoiceFilter, ModelMultipleChoiceFilter
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .idempotency import HEADER, KEPT_CLIENT_ERRORS, MAX_KEY_LENGTH

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


OWN_PATH_ID = "Must be one of yours: another client's is a 404, as if it did not exist."


def own_id(name):
    """The description of an input naming another object, which must be the caller's own."""
    return f"The id of one of your own {name}s: another client's is refused (400) like an id that does not exist."


class TenantFilterExtension(DjangoFilterExtension):
    """accounts.api.filtering.TenantFilterBackend's filters, documented as drf-spectacular documents django-filter's,
    each filter naming another object saying that it takes only the caller's own."""

    target_class = "accounts.api.filtering.TenantFilterBackend"
    priority = 1  # over drf-spectacular's own, which matches this subclass of DjangoFilterBackend too

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        if isinstance(filter_field, (ModelChoiceFilter, ModelMultipleChoiceFilter)):
            name = filter_field.queryset.model._meta.verbose_name
            for parameter in parameters:
                parameter.setdefault("description", own_id(name))
        return parameters


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
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                parameter["description"] = " ".join(filter(None, [parameter.get("description"), OWN_PATH_ID]))
        return operation

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and isinstance(field, serializers.PrimaryKeyRelatedField) and not field.help_text:
            meta["description"] = own_id(field.field_name.replace("_", " "))
        return meta

    def _error_statuses(self, operation):
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        query_names = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
        statuses = {429}  # every route is rate limited: per API key, per user, or per client IP and token
        # Every POST takes an Idempotency-Key, which may be invalid: a POST without a body can be a 400 too.
        if "requestBody" in operation or "query" in locations or self.method == "POST":
            statuses.add(400)
        if {} not in operation.get("security", [{}]):
            statuses |= {401, 403}
            if self.method in WRITE_METHODS:
                statuses.add(503)  # the API rate limit lets writes through only when it can count them
        # DRF's page-number paginator answers a page past the end with 404 (a bad cursor is a 400).
        if "path" in locations or "page" in query_names:
            statuses.add(404)
        if self.method in WRITE_METHODS:
            statuses.add(409)
        return sorted(statuses)


def document_idempotency_key(result, generator, request, public):
    """Every POST accepts an Idempotency-Key header (see mobul.idempotency)."""
    parameter = {
        "in": "header", "name": HEADER, "required": False,
        "description": f"1 to {MAX_KEY_LENGTH} printable ASCII characters (letters, digits, punctuation, spaces), "
                       "unique per request: a UUID is a good choice; any other key is a 400 "
                       "`invalid_idempotency_key`. A retry with the same key and body gets the first response "
                       "back (header `Idempotent-Replayed: true`) instead of doing the work twice, for 24 hours. "
                       "Only successes and the refusals the request alone decides "
                       f"({', '.join(map(str, sorted(KEPT_CLIENT_ERRORS)))}) are kept; after any other answer "
                       "(401, 403, 404, 409, 429, 5xx) a retry is judged again. With credentials, reusing a key "
                       "for a different request is a 409; without (public redemption), keys are scoped to the "
                       "caller's address and the request, so a different request is a new one.",
        # What mobul.idempotency accepts: isascii() and isprintable(), i.e. space to tilde.
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    }
    for operations in result.get("paths", {}).values():
        if "post" in operations:
            operations["post"].setdefault("parameters", []).append(parameter)
    return result
