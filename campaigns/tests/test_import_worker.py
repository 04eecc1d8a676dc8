"""An import queued through the API and processed by a real Celery worker process, with progress
visible while it runs."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Recipient
from campaigns.tests.factories import CampaignFactory, csv_bytes, person
from mobul.celery import app as celery_app
from mobul.tests.processes import ROOT, database_url
ROWS = 100_000


@pytest.fixture
def worker():
    env = {
        **os.environ,
        "MOBUL_TESTING": "0",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.CACHE_REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    celery_app.control.purge()  # leftovers of an interrupted earlier run
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mobul", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager = True
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_imports_with_visible_progress(worker, tenant_a, key_client, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "100000/m"}  # this test polls far faster than a client would
    campaign = CampaignFactory(client=tenant_a.client)
    data = csv_bytes([person(n) for n in range(1, ROWS + 1)])
    response = key_client.post(
        f"/api/v1/campaigns/{campaign.pk}/recipients/import/",
        {"file": SimpleUploadedFile("big.csv", data, "text/csv")}, format="multipart",
    )
    assert response.status_code == 202
    job_url = f"/api/v1/imports/{response.json()['id']}/"

    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        job = key_client.get(job_url).json()
        seen.append((job["status"], job["rows_done"], job["progress_percent"]))
        if job["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert worker.poll() is None, worker.stderr.read().decode()
    assert job["status"] == "completed", job
    assert job["rows_imported"] == ROWS and job["rows_total"] == ROWS and job["progress_percent"] == 100
    in_flight = [done for status, done, _ in seen if status == "running" and 0 < done < ROWS]
    assert in_flight, f"no intermediate progress was visible: {seen[:5]} ... {seen[-5:]}"
    assert in_flight == sorted(in_flight)
    assert Recipient.objects.filter(campaign=campaign).count() == ROWS
