"""Project-level guarantees: production settings pass the deploy check, migrations match the models,
the API docs are self-contained, errors have one shape, and set-up failures are readable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "MOBUL_TESTING": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "MOBUL_ENV": "production", "SECRET_KEY": "k" * 64 + "-not-a-real-secret-but-long-enough",
    "ALLOWED_HOSTS": "mobul.example", "GIFT_CARD_ENCRYPTION_KEYS": "fNmtAvId1N_2MtIR1u89DtVj8-i_yQUxL79cm8UdnBc=",
    "GIFT_CARD_HASH_KEY": "test-only-hash-key",
}


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("missing", "message"), [
    ("SECRET_KEY", "SECRET_KEY must be set"),
    ("GIFT_CARD_ENCRYPTION_KEYS", "GIFT_CARD_ENCRYPTION_KEYS and GIFT_CARD_HASH_KEY must be set"),
])
def test_production_refuses_to_start_without_its_secrets(missing, message):
    result = _manage("check", **{**PRODUCTION_ENV, missing: ""})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/mobul", "PostgreSQL is not reachable at 127.0.0.1:1"),
        ("REDIS_URL", "redis://127.0.0.1:1/0", "Redis (cache) is not reachable at 127.0.0.1:1"),
    ],
)
def test_preflight_names_the_unreachable_service_without_a_traceback(variable, value, named):
    result = _manage("preflight", **{variable: value})
    assert result.returncode == 1
    assert named in result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_api_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg" not in html


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "field": None}}


def test_requests_carry_a_request_id(client):
    assert len(client.get("/health/")["X-Request-ID"]) == 32
    assert client.get("/health/", headers={"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
    assert client.get("/health/", headers={"X-Request-ID": "bad id!"})["X-Request-ID"] != "bad id!"
