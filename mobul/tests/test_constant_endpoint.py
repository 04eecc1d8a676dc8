"""The load benchmark's constant view exists only when asked for, and never in production."""

import json
import os
import subprocess
import sys

import pytest


def _setting(**environment):
    code = "import django; django.setup(); from django.conf import settings; print(json.dumps(settings.BENCH_TRIVIAL_ENDPOINT))"
    result = subprocess.run([sys.executable, "-c", f"import json; {code}"], check=True, capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "mobul.settings", **environment})
    return json.loads(result.stdout)


@pytest.mark.django_db
def test_not_routed_by_default(client):
    assert client.get("/bench/constant/").status_code == 404


def test_only_outside_production():
    assert _setting() is False
    assert _setting(BENCH_TRIVIAL_ENDPOINT="true") is True
    assert _setting(BENCH_TRIVIAL_ENDPOINT="true", MOBUL_ENV="production", SECRET_KEY="x" * 50,
                    ALLOWED_HOSTS="example.com", GIFT_CARD_ENCRYPTION_KEYS="k", GIFT_CARD_HASH_KEY="h") is False
