import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.choices import ApiKeyScope
from accounts.models import ApiKey, hash_api_key
from accounts.services import revoke_api_key
from accounts.tests.factories import api_key_for

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def _get(path, **headers):
    return APIClient().get(path, headers=headers)


def test_bearer_key_authenticates_as_its_client(tenant_a, tenant_b):
    response = _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "api_key"
    assert body["api_key_prefix"] == tenant_a.api_key.prefix
    assert [c["slug"] for c in body["clients"]] == [tenant_a.client.slug]


def test_x_api_key_header_is_accepted(tenant_a):
    response = _get(ME, **{"X-API-Key": tenant_a.raw_key})
    assert response.status_code == 200
    assert response.json()["api_key_prefix"] == tenant_a.api_key.prefix


def test_the_schema_offers_either_key_header_not_both(client, db):
    # Found by the API fuzz test: one security requirement naming both schemes demanded both headers at once.
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    assert schema["paths"][ME]["get"]["security"] == [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}, {"cookieAuth": []}]
    assert {"ApiKeyBearer", "ApiKeyHeader"} <= set(schema["components"]["securitySchemes"])


def test_missing_key_is_401_in_the_error_shape(db):
    response = _get(ME)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided.", "field": None}
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_fails_at_once(tenant_a):
    assert _get(ME, Authorization=f"Bearer {tenant_a.raw_key}").status_code == 200
    revoke_api_key(api_key=tenant_a.api_key)
    response = _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_unknown_prefix_is_rejected(tenant_a):
    _, prefix, secret = tenant_a.raw_key.split("_", 2)
    forged = f"mbl_{'0' * len(prefix) if prefix != '0' * len(prefix) else '1' * len(prefix)}_{secret}"
    response = _get(ME, Authorization=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_right_prefix_wrong_secret_is_rejected(tenant_a):
    _, prefix, secret = tenant_a.raw_key.split("_", 2)
    response = _get(ME, Authorization=f"Bearer mbl_{prefix}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("raw", ["not-a-key", "mbl_", "mbl__secret", "xyz_abcd1234_secret"])
def test_malformed_keys_are_rejected(db, raw):
    response = _get(ME, Authorization=f"Bearer {raw}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_inactive_client_key_is_rejected(tenant_a):
    tenant_a.client.is_active = False
    tenant_a.client.save()
    response = _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "inactive_client"


def test_only_the_hash_is_stored(tenant_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_keys WHERE id = %s", [tenant_a.api_key.pk])
        stored_row = " ".join(str(value) for value in cursor.fetchone())
    secret = tenant_a.raw_key.split("_", 2)[2]
    assert secret not in stored_row
    assert tenant_a.raw_key not in stored_row
    assert ApiKey.objects.get(pk=tenant_a.api_key.pk).key_hash == hash_api_key(tenant_a.raw_key)


def test_last_used_is_recorded_but_not_on_every_request(tenant_a):
    assert tenant_a.api_key.last_used_at is None
    _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    first_use = ApiKey.objects.get(pk=tenant_a.api_key.pk).last_used_at
    assert first_use is not None and (timezone.now() - first_use).total_seconds() < 60
    _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    assert ApiKey.objects.get(pk=tenant_a.api_key.pk).last_used_at == first_use
    with override_settings(API_KEY_LAST_USED_RESOLUTION_SECONDS=0):
        _get(ME, Authorization=f"Bearer {tenant_a.raw_key}")
    assert ApiKey.objects.get(pk=tenant_a.api_key.pk).last_used_at > first_use


def test_read_only_key_cannot_write(tenant_a):
    _, read_key = api_key_for(tenant_a.client, scopes=[ApiKeyScope.READ])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert client.get(ME).status_code == 200
    response = client.post(ME, {})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
