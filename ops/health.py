"""Liveness of the services Mobul needs: the database, the cache and the Celery broker."""

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from mobul.celery import app as celery_app

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "ops:heartbeat"


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache():
    token = uuid.uuid4().hex
    cache.set("ops:health-probe", token, timeout=10)
    if cache.get("ops:health-probe") != token:
        raise RuntimeError("cache did not return the value just written")


def check_broker():
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    with celery_app.connection_for_write(connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        # Redis transports connect lazily; opening a channel proves the broker answers.
        conn.default_channel


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks():
    """{"name": {"ok": bool, "ms": float}} for every service; failures are logged, not exposed."""
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            ok = True
        except Exception:
            logger.exception("health check failed: %s", name)
            ok = False
        results[name] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return results
