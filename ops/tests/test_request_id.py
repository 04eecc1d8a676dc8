"""Structured logs: the request id a caller sends (or one we make) is on the request's log lines and on the
lines of the Celery tasks it queues, in a real worker process logging JSON."""

import json
import os
import subprocess
import sys
import time
from uuid import uuid4

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.tests.factories import CampaignFactory, csv_bytes, person
from mobul.celery import app as celery_app
from mobul.tests.processes import ROOT, database_url


@pytest.fixture
def json_worker(tmp_path):
    """A real worker on a queue of this test's own, logging JSON at INFO into a file."""
    queue = f"request-id-{uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = {**os.environ, "MOBUL_TESTING": "0", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "REDIS_URL": settings.CACHE_REDIS_URL,
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            # Its own queue, and the queues tasks are routed to by kind of work (the import's is `imports`).
            [sys.executable, "-m", "celery", "-A", "mobul", "worker", "--pool", "solo",
             "-Q", ",".join([queue, *settings.CELERY_QUEUE_NAMES]), "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = False, queue
    try:
        yield process, log
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = True, default_queue
        process.terminate()
        process.wait(timeout=30)
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def _json_lines(log):
    lines = []
    for raw in log.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # the worker's banner
    return lines


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_request_id_follows_the_request_into_its_task(json_worker, tenant_a, key_client):
    process, log = json_worker
    request_id = f"trace-{uuid4().hex}"
    campaign = CampaignFactory(client=tenant_a.client)
    response = key_client.post(
        f"/api/v1/campaigns/{campaign.pk}/recipients/import/",
        {"file": SimpleUploadedFile("people.csv", csv_bytes([person(1), person(2)]), "text/csv")},
        format="multipart", headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202 and response["X-Request-ID"] == request_id
    job_url = f"/api/v1/imports/{response.json()['id']}/"

    deadline = time.monotonic() + 60
    while key_client.get(job_url).json()["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    assert key_client.get(job_url).json()["status"] == "completed"

    deadline = time.monotonic() + 10
    # The worker may also run what earlier tests left queued (a delayed stock check): only the import's lines count.
    while not (started := [line for line in _json_lines(log) if line.get("logger") == "mobul.tasks"
                           and line.get("task_name") == "campaigns.tasks.process_import"]):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    (line,) = started
    assert line["message"] == "Task campaigns.tasks.process_import started"
    assert line["request_id"] == request_id and line["task_name"] == "campaigns.tasks.process_import"
    assert {"time", "level", "task_id"} <= set(line)

