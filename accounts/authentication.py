import hmac
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from rest_framework import authentication, exceptions

from mobul.db import prepared_cursor

from .models import ApiKey, Client, hash_api_key

API_KEY_PREFIX = "mbl"


def parse_api_key(raw_key):
    """Split `mbl_<prefix>_<secret>` into (prefix, secret), or None when it is not one of ours."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


_KEY_FIELDS = ApiKey._meta.concrete_fields
_CLIENT_FIELDS = Client._meta.concrete_fields
# Every API request authenticates: one prepared statement instead of the ORM building the same query each time.
# On the primary, so a revoked key is refused at once, whatever a replica has replayed.
KEY_WITH_CLIENT_SQL = (
    f"SELECT {', '.join(f'k.{field.column}' for field in _KEY_FIELDS)},"
    f" {', '.join(f'c.{field.column}' for field in _CLIENT_FIELDS)}"
    f" FROM {ApiKey._meta.db_table} k JOIN {Client._meta.db_table} c ON c.id = k.client_id WHERE k.prefix = %s"
)


def _key_with_client(prefix):
    with prepared_cursor() as cursor:
        cursor.execute(KEY_WITH_CLIENT_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = ApiKey.from_db(DEFAULT_DB_ALIAS, [field.attname for field in _KEY_FIELDS], row[:len(_KEY_FIELDS)])
    api_key.client = Client.from_db(DEFAULT_DB_ALIAS, [field.attname for field in _CLIENT_FIELDS],
                                    row[len(_KEY_FIELDS):])
    return api_key


def _touch_last_used(api_key):
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at < stale_before:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`.

    The request's user stays anonymous: the key itself (request.auth) is the principal, and it
    acts for its one client only.
    """

    keyword = "Bearer"

    def _raw_key(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if header:
            keyword, _, value = header.partition(" ")
            if keyword.lower() == self.keyword.lower():
                return value.strip()
            return None
        return request.headers.get("X-API-Key", "").strip() or None

    def authenticate(self, request):
        raw_key = self._raw_key(request)
        if raw_key is None:
            return None
        parsed = parse_api_key(raw_key)
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed API key.", code="invalid_api_key")
        prefix, _secret = parsed
        api_key = _key_with_client(prefix)
        if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_api_key(raw_key)):
            raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if not api_key.client.is_active:
            raise exceptions.AuthenticationFailed("This API key's client is deactivated.", code="inactive_client")
        _touch_last_used(api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
