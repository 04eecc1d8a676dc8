"""Shared DRF pieces: pagination and the one JSON error shape.

Every error the API returns looks like
    {"error": {"code": "...", "message": "...", "field": "..." | null}}
Validation errors also carry "details": {field: [messages]} so a client can show them all.
"""

import logging
from base64 import b64decode
from datetime import datetime
from urllib.parse import parse_qs

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils import timezone
from rest_framework import exceptions, filters, pagination, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import DomainError

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100


class InvalidPageSize(DomainError):
    code = "invalid_page_size"
    field = "page_size"
    default_message = f"page_size must be a whole number, at least 1 (a page holds at most {MAX_PAGE_SIZE})."


class PageSize:
    """?page_size=: left out, the list's page size; else a whole number from 1 (above the maximum, the maximum).
    Anything else (empty, "null", 0, "abc") is a 400, where DRF would silently give the default page size."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"Results per page, a whole number from 1; above {MAX_PAGE_SIZE}, {MAX_PAGE_SIZE}."

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        digits = value.lstrip("0")
        if not (value.isascii() and value.isdigit() and digits):
            raise InvalidPageSize()
        # len() first: a number with more digits than the maximum is above it (and int() refuses over 4,300).
        if len(digits) > len(str(self.max_page_size)):
            return self.max_page_size
        return min(int(digits), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class PageNumberPagination(PageSize, pagination.PageNumberPagination):
    pass


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    field = "cursor"
    default_message = "This cursor was not issued by this list: follow the `next` and `previous` links as given."


class CursorPagination(PageSize, pagination.CursorPagination):
    """For large tables: stable under inserts, no COUNT(*).

    A cursor is base64 of "o=<offset>&r=<1 if reversed>&p=<position>", the position being the value of the first
    ordering field; anything else, or a position that field cannot hold, is a 400 `invalid_cursor`.
    """

    cursor_query_description = "The cursor of a `next` or `previous` link, as given; any other is a 400."
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # a cursor's position is checked against the field the list orders by
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse_qs(b64decode(encoded, validate=True).decode("ascii"), keep_blank_values=True,
                              strict_parsing=True)
            [offset], [reverse] = tokens.pop("o", ["0"]), tokens.pop("r", ["0"])
            [position] = tokens.pop("p", [None])
        except ValueError:
            raise InvalidCursor() from None
        if tokens or not (offset.isascii() and offset.isdigit()) or reverse not in ("0", "1"):
            raise InvalidCursor()
        if position is not None:
            self._check_position(position)
        # As DRF does: an offset past the cutoff is cut to it (len() first: int() refuses over 4,300 digits).
        offset = self.offset_cutoff if len(offset) > 9 else min(int(offset), self.offset_cutoff)
        return pagination.Cursor(offset=offset, reverse=reverse == "1", position=position)

    def _check_position(self, position):
        field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(position)
            field.run_validators(value)  # integer fields: the column's range
        except DjangoValidationError:
            raise InvalidCursor() from None
        if isinstance(value, datetime) and timezone.is_naive(value):
            raise InvalidCursor()


class OrderingFilter(filters.OrderingFilter):
    """DRF's, but `?ordering=` is offered only where a view lists fields to order by: elsewhere (the cursor lists,
    whose order is their cursor's) the parameter did nothing and the schema should not promise it."""

    def get_schema_operation_parameters(self, view):
        if not getattr(view, "ordering_fields", None):
            return []
        return super().get_schema_operation_parameters(view)


def error_body(code, message, field=None, details=None):
    error = {"code": code, "message": message, "field": field}
    if details:
        error["details"] = details
    return {"error": error}


def _first_message(detail):
    """First human-readable message and the field it belongs to, from DRF's nested detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message, nested_field = _first_message(value)
            field = None if key == api_settings.NON_FIELD_ERRORS_KEY else key
            if nested_field and field:
                field = f"{field}.{nested_field}"
            return message, field or nested_field
        return "Invalid input.", None
    if isinstance(detail, list):
        for item in detail:
            return _first_message(item)
        return "Invalid input.", None
    return str(detail), None


def _validation_response(detail, code="invalid"):
    message, field = _first_message(detail)
    details = detail if isinstance(detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: detail}
    return Response(error_body(code, message, field, details), status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.field), status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(int(exc.retry_after))
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(
            "payload_too_large",
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes; send it in parts.",
        ), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DjangoValidationError):
        return _validation_response(exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages).detail)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.detail)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    message, field = _first_message(detail)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = getattr(exc, "default_code", "error")
    response.data = error_body(code, message, field)
    return response


class ApiNotFoundMiddleware:
    """An /api/ URL that is not found answers the JSON error shape, DEBUG or not (DEBUG's page, and the site's
    404 page otherwise, are HTML). Listed before CommonMiddleware, so it wraps it: a URL missing its slash has
    already been turned into a redirect by CommonMiddleware when the response gets here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 404 and request.path.startswith("/api/")
                and not response.get("Content-Type", "").startswith("application/json")):
            return JsonResponse(error_body("not_found", "Not found."), status=404)
        return response


def json_server_error(request):
    return JsonResponse(
        error_body("server_error", "An unexpected error occurred. It has been logged."), status=500
    )
