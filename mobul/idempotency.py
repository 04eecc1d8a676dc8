"""Idempotency-Key on the API's POSTs: a retried request gets the first response back instead of a second effect.

The first response to (caller, key) is kept for IDEMPOTENCY_TTL_SECONDS and replayed for the same request;
the same key with a different request is a 409, and so is a retry that arrives while the first is still
running. A replay runs no view and returns only what that caller already received.

- The request is its method, path, query string, media type and body. A multipart body is taken as its parsed
  parts (field names and values; each file's field, name, content type and contents), since its boundary
  changes on every send; files are hashed as they stream in, on their way to the upload handlers that store them.
  Only a caller the API's authenticators accept has an upload read here: no public endpoint takes one, and the
  view answers anyone else's with a 401 without reading it.
- The caller is the credential (API key or session user), so two callers never share keys. Public callers
  (redemption) have no credential: their key is scoped by their address and the request itself, so neither
  people behind one address nor one token's holders at two addresses ever see each other's answers.
- Kept are successes and the refusals the request itself decides (KEPT_CLIENT_ERRORS): the same request
  always gets them. Refusals a retry should have judged again are not kept: credentials and scopes change
  (401, 403), objects appear or come into reach (404), state moves (409), limits reopen (429), services come
  back (5xx).
- Kept answers are encrypted (they may hold a gift-card code) with a key derived from SECRET_KEY; an answer
  sealed under a key no longer in SECRET_KEY or SECRET_KEY_FALLBACKS is a 409, never a second run.
"""

import base64
import hashlib
import json
import logging
from functools import cache as memoize

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.crypto import salted_hmac
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .api import error_body, exception_handler
from .http import client_ip

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# How long a first request may run before its key is free again (it crashed without a response).
PENDING_SECONDS = 120
# Larger responses are not kept (POST answers are small; this is a guard, not a feature).
MAX_STORED_BYTES = 1024 * 1024
KEPT_HEADERS = ("Content-Type", "Location", "Retry-After")
# Refusals decided by the request alone (its body, method, size, media type): a retry would get them again.
KEPT_CLIENT_ERRORS = frozenset({400, 405, 413, 415, 422})
MULTIPART = "multipart/form-data"


def _error(status, code, message, field="Idempotency-Key"):
    return HttpResponse(json.dumps(error_body(code, message, field)), status=status, content_type="application/json")


def _api_error(exc):
    """The API's own answer to `exc` (mobul.api.exception_handler), for bodies that cannot be read here."""
    response = exception_handler(exc, {})
    return HttpResponse(JSONRenderer().render(response.data), status=response.status_code,
                        content_type="application/json")


class _FingerprintingUploadHandler(FileUploadHandler):
    """First of the upload handlers: hashes each file's chunks as they arrive and passes them on unchanged,
    so the file is read once, stored once (in memory or on disk, by the handlers after it) and never re-read."""

    def __init__(self, request=None):
        super().__init__(request)
        self.files = []

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data, start):
        self.digest.update(raw_data)
        return raw_data

    def file_complete(self, file_size):
        self.files.append((self.field_name, self.file_name, self.content_type, self.digest.hexdigest()))
        return None  # the next handler builds the file


def _feed(digest, *parts):
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)


def fingerprint(request, files=()):
    """What makes two requests the same one. `files`: the multipart files' (field, name, content type, sha256)."""
    digest = hashlib.sha256()
    _feed(digest, request.method, request.path, request.META.get("QUERY_STRING", ""), request.content_type or "")
    if request.content_type == MULTIPART:
        for name, values in sorted(request.POST.lists()):
            _feed(digest, "field", name, *values)
        for file in sorted(files, key=lambda file: file[0]):  # stable: a field's files keep their order
            _feed(digest, "file", *file)
    else:
        _feed(digest, request.body)
    return digest.hexdigest()


def _read_fingerprint(request):
    if request.content_type != MULTIPART:
        return fingerprint(request)
    handler = _FingerprintingUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    request.POST  # parses the parts now; DRF takes request.POST and request.FILES as they are
    return fingerprint(request, handler.files)


def _authenticated(request):
    """Whether one of the API's authenticators accepts the request's credentials. Nothing is set on `request`:
    the view authenticates it again, as it would without a key."""
    unauthenticated = Request(request)
    for authenticator in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            if authenticator().authenticate(unauthenticated):
                return True
        except exceptions.APIException:
            return False
    return False


def _content_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # as Django reads it: no body


def _upload_limit():
    # An import file, plus the form fields around it.
    return settings.IMPORT_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _caller(request, request_fingerprint):
    credential = request.headers.get("Authorization") or request.headers.get("X-API-Key")
    if credential:
        return "credential:" + hashlib.sha256(credential.encode()).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "public:" + hashlib.sha256(f"{client_ip(request)}\0{request_fingerprint}".encode()).hexdigest()


def cache_key(request, key, request_fingerprint):
    return "idempotency:{}:{}".format(_caller(request, request_fingerprint), hashlib.sha256(key.encode()).hexdigest())


@memoize
def _fernet(secrets):
    return MultiFernet([
        Fernet(base64.urlsafe_b64encode(
            salted_hmac("mobul.idempotency", "kept responses", secret=secret, algorithm="sha256").digest()))
        for secret in secrets
    ])


def _sealer():
    return _fernet((settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def _seal(response):
    return _sealer().encrypt(json.dumps({
        "status": response.status_code,
        "headers": {name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
        "content": base64.b64encode(response.content).decode(),
    }).encode())


def _unseal(sealed):
    kept = json.loads(_sealer().decrypt(sealed))
    response = HttpResponse(base64.b64decode(kept["content"]), status=kept["status"])
    for name, value in kept["headers"].items():
        response[name] = value
    return response


def _kept(status):
    return 200 <= status < 300 or status in KEPT_CLIENT_ERRORS


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if request.content_type == MULTIPART and not _authenticated(request):
            return self.get_response(request)
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            return _error(400, "invalid_idempotency_key",
                          f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
        # The body is read here, before the view authenticates the caller: bound what that may cost.
        if _content_length(request) > _upload_limit():
            return _error(413, "payload_too_large",
                          f"The request body is larger than {_upload_limit():,} bytes, more than any upload may be.",
                          field=None)
        try:
            request_fingerprint = _read_fingerprint(request)
        except RequestDataTooBig as error:
            return _api_error(error)
        except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as error:
            return _api_error(exceptions.ParseError(f"Multipart form parse error - {error}"))
        cache_name = cache_key(request, key, request_fingerprint)
        try:
            claimed = cache.add(cache_name, {"fingerprint": request_fingerprint}, PENDING_SECONDS)
            stored = None if claimed else cache.get(cache_name)
        except Exception:
            logger.warning("idempotency store unavailable; handling the request without it", exc_info=True)
            return self.get_response(request)
        if stored is not None:
            return self._replay(stored, request_fingerprint)
        response = self.get_response(request)
        self._keep(cache_name, request_fingerprint, response)
        return response

    @staticmethod
    def _replay(stored, request_fingerprint):
        if stored["fingerprint"] != request_fingerprint:
            return _error(409, "idempotency_key_reused",
                          "This Idempotency-Key was already used for a different request.")
        if "response" not in stored:
            response = _error(409, "idempotency_key_in_use",
                              "A request with this Idempotency-Key is still being processed; retry shortly.")
            response["Retry-After"] = "1"
            return response
        try:
            response = _unseal(stored["response"])
        except InvalidToken:
            return _error(409, "idempotency_key_unreadable",
                          "This Idempotency-Key's request was done, but its answer can no longer be read (the "
                          "server's secret key changed). Use a new key only if you mean to repeat the request.")
        response[REPLAYED_HEADER] = "true"
        return response

    @staticmethod
    def _keep(cache_name, request_fingerprint, response):
        try:
            if not _kept(response.status_code) or response.streaming or len(response.content) > MAX_STORED_BYTES:
                cache.delete(cache_name)  # a retry is decided again
                return
            cache.set(cache_name, {"fingerprint": request_fingerprint, "response": _seal(response)},
                      settings.IDEMPOTENCY_TTL_SECONDS)
        except Exception:
            logger.warning("could not keep the response for its Idempotency-Key", exc_info=True)
