"""Shared DRF pieces: pagination and the one JSON error shape.

Every error the API returns looks like
    {"error": {"code": "...", "message": "...", "field": "..." | null}}
Validation errors also carry "details": {field: [messages]} so a client can show them all.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, pagination, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import DomainError

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """For large tables: stable under inserts, no COUNT(*)."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"


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


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_server_error(request):
    return JsonResponse(
        error_body("server_error", "An unexpected error occurred. It has been logged."), status=500
    )
