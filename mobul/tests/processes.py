"""Real processes for fault tests: a throwaway Redis on a port of its own, Celery workers pointed at it (started,
killed, restarted), and one-off Mobul processes.

Each test starts its own Redis, so stopping it, flushing it or killing a worker with messages in flight
touches no other test."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest
import redis
from celery.exceptions import AlwaysEagerIgnored
from django.conf import settings
from django.db import connection

from mobul.celery import app as celery_app
from mobul.tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def database_url():
    """The URL of the test database, for processes the test starts."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(check, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds} s")
        time.sleep(0.1)


class RedisServer:
    """redis-server on a free localhost port, without persistence: a restart loses everything, as a
    non-persistent production Redis does."""

    def __init__(self):
        self.port, self.folder, self.process = free_port(), Path(tempfile.mkdtemp(prefix="mobul-redis-")), None
        self.start()

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db=0):
        return redis.Redis.from_url(self.url(db), socket_timeout=2)

    def answers(self):
        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, f"redis-server on port {self.port} did not answer", seconds=20)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        wait_for(lambda: not self.answers(), "redis-server did not stop", seconds=20)

    def remove(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def redis_server():
    """A Redis of the test's own (RedisServer), removed after it."""
    server = RedisServer()
    yield server
    server.remove()


def app_environment(redis_server, **extra):
    """The environment of a Mobul process (not under the test runner) on the test database and the test's media
    folder, with its cache in `redis_server` database 0 and its Celery broker in database 1."""
    return {
        **os.environ, "MOBUL_TESTING": "0", "DATABASE_URL": database_url(), "REDIS_URL": redis_server.url(0),
        "CELERY_BROKER_URL": redis_server.url(1), "MEDIA_ROOT": str(settings.MEDIA_ROOT), **extra,
    }


class Worker:
    """A Celery worker process: by default the solo pool (the process that runs the task is the one a kill hits)
    consuming every queue; `options` are more worker arguments, e.g. a group's own pool and queues."""

    def __init__(self, environment, *options):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mobul", "worker", "--loglevel", "WARNING",
             "--without-mingle", "--without-gossip", "--without-heartbeat", *(options or ("--pool", "solo"))],
            cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def alive(self):
        return self.process.poll() is None

    def errors(self):
        return "" if self.alive() else self.process.stderr.read().decode()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until_consuming(redis_server):
    """A worker declares its queues' bindings (to the default exchange) in the broker once it consumes; a
    message published before that may be dropped."""
    wait_for(lambda: redis_server.client(1).exists(f"_kombu.binding.{celery_app.conf.task_default_exchange}"),
             "the worker did not start consuming")


def declare_queues(redis_server):
    """Declares every queue in the broker in `redis_server`, as a worker does once it consumes: then a message
    published while no worker runs waits for one."""
    with celery_app.connection_for_write(redis_server.url(1)) as broker:
        for queue in celery_app.amqp.queues.values():
            queue(broker.default_channel).declare()


def send_task(redis_server, name):
    """Publishes task `name` to the broker in `redis_server`, as beat would (this process stays eager)."""
    with celery_app.connection_for_write(redis_server.url(1)) as broker, warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        celery_app.send_task(name, connection=broker)


def run_in_app_process(environment, code):
    """Runs Python `code` in a Mobul process of its own (Django set up, Celery not eager)."""
    script = f"import django\ndjango.setup()\n{code}"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={
        **environment, "DJANGO_SETTINGS_MODULE": "mobul.settings"}, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RuntimeError(result.stderr)
