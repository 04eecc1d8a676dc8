"""docker-compose.yml is for users (no Docker engine here): parse it and check services and wiring."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
APP_SERVICES = {"web", "worker", "worker-bulk", "beat"}
REQUIRED_SERVICES = {"postgres", "redis", "objectstore", *APP_SERVICES}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_every_required_service_is_there(compose):
    assert REQUIRED_SERVICES <= set(compose["services"])


def test_long_running_services_have_health_checks(compose):
    for name in REQUIRED_SERVICES:
        assert compose["services"][name].get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_app_services_share_one_environment(compose):
    environments = [compose["services"][name]["environment"] for name in [*APP_SERVICES, "migrate"]]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    for variable in ("SECRET_KEY", "GIFT_CARD_ENCRYPTION_KEYS", "GIFT_CARD_HASH_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS",
                     "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL"):
        assert variable in env, variable
    assert env["MOBUL_ENV"] == "production"
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert env["AWS_S3_ENDPOINT_URL"].startswith("http://objectstore:")


def test_app_services_wait_for_healthy_dependencies_and_migrations(compose):
    for name in APP_SERVICES:
        depends = compose["services"][name]["depends_on"]
        for dependency in ("postgres", "redis", "objectstore"):
            assert depends[dependency]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_web_runs_gunicorn_and_workers_run_celery(compose):
    services = compose["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "mobul", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "mobul", "beat"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose binary not installed")
def test_docker_compose_accepts_the_file():
    subprocess.run(["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"], check=True,
                   env={"SECRET_KEY": "x" * 50, "GIFT_CARD_ENCRYPTION_KEYS": "k", "GIFT_CARD_HASH_KEY": "h",
                        "PATH": "/usr/bin:/bin:/usr/local/bin"})
