import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CLOSED_PORT_REDIS,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


def test_health_is_200_when_everything_is_up(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "no-cache" in response["Cache-Control"]


def test_health_is_503_naming_the_cache_when_it_is_unreachable(client):
    with override_settings(CACHES=UNREACHABLE_CACHE):
        response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["cache"]
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert "127.0.0.1" not in response.content.decode()


def test_health_is_503_naming_the_broker_when_it_is_unreachable(client, settings):
    # Through Django's settings, which the Celery app reads: set on app.conf, it would mask them for later tests.
    settings.CELERY_BROKER_URL = CLOSED_PORT_REDIS
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]
