"""docker-compose.yml is for users (no Docker engine here): parse it and check services and wiring."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
APP_SERVICES = {"web", "worker", "worker-bulk", "worker-webhooks", "beat"}
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


# --- the image and the compose environment start as production ---------------------------------

DOCKERFILE = COMPOSE_FILE.with_name("Dockerfile")
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _image_environment():
    """The ENV the Dockerfile bakes into the image (`ENV A=1 B=2`, continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    environment = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            environment.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return environment


def _check(environment):
    """`manage.py check` as the container would start it, with only `environment` (and PATH)."""
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=COMPOSE_FILE.parent, capture_output=True,
                          text=True, timeout=120, env={"PATH": os.environ["PATH"], **environment})


def test_the_image_runs_as_production_and_refuses_to_start_without_its_secrets():
    image = _image_environment()
    assert image.get("MOBUL_ENV") == "production"
    assert not {"SECRET_KEY", "GIFT_CARD_ENCRYPTION_KEYS", "GIFT_CARD_HASH_KEY"} & image.keys(), "no baked secret"
    refused = _check(image)
    assert refused.returncode != 0 and "SECRET_KEY must be set when MOBUL_ENV=production" in refused.stderr


def _resolve(value, given):
    """A compose value with ${VAR}, ${VAR:-default} and ${VAR:?error} expanded from `given`, as compose does."""
    def expand(match):
        name, kind, rest = match.groups()
        if given.get(name):
            return given[name]
        assert kind != "?", f"compose needs {name}: {rest}"
        return rest if kind == "-" else ""
    return COMPOSE_VARIABLE.sub(expand, str(value)).replace("$$", "$")


def test_the_compose_environment_gives_production_what_it_requires(compose):
    block = compose["services"]["web"]["environment"]
    required = {name for name, kind, _ in COMPOSE_VARIABLE.findall(yaml.safe_dump(block)) if kind == "?"}
    assert required == {"SECRET_KEY", "GIFT_CARD_ENCRYPTION_KEYS", "GIFT_CARD_HASH_KEY"}
    given = {"SECRET_KEY": "s" * 50, "GIFT_CARD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
             "GIFT_CARD_HASH_KEY": "h" * 40}
    environment = {**_image_environment(), **{name: _resolve(value, given) for name, value in block.items()}}
    started = _check(environment)
    assert started.returncode == 0, started.stderr
    # The README's command sets every variable compose insists on.
    readme = (COMPOSE_FILE.parent / "README.md").read_text()
    command = readme[readme.rindex("```sh", 0, readme.index("docker compose up")):readme.index("docker compose up")]
    assert all(f"{name}=" in command for name in required), command
