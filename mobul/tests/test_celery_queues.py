"""Celery queues by kind of work: tasks published to the real Redis broker land in their queue's list."""

import json
import re
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings

from mobul.celery import app

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("accounts", "campaigns", "giftcards", "calltracking", "analytics", "dashboard", "ops", "mailpieces", "webhooks")
EXPECTED = [
    ("giftcards.tasks.dispatch_deliveries", [], "delivery"),
    ("giftcards.tasks.deliver_gift_card", [1], "delivery"),
    ("giftcards.tasks.notify_low_stock", [1], "delivery"),
    ("accounts.tasks.send_team_invitation", [1, 1], "delivery"),
    ("campaigns.tasks.process_import", [1], "imports"),
    ("campaigns.tasks.record_mailing", [1], "imports"),
    ("giftcards.tasks.process_card_import", [1], "imports"),
    ("mailpieces.print_run_tasks.render_print_run", [1], "imports"),
    ("calltracking.tasks.download_recording", [1], "webhooks"),
    ("analytics.tasks.apply_rollups", [], "webhooks"),
    ("webhooks.tasks.dispatch_messages", [], "webhooks"),
    ("webhooks.tasks.deliver_message", [1], "webhooks"),
    ("webhooks.tasks.notify_endpoint_disabled", [1], "delivery"),
    ("webhooks.tasks.sweep_messages", [], "monitoring"),
    ("analytics.tasks.maintain_partitions", [], "retention"),
    ("giftcards.tasks.check_pool_level_later", [1], "monitoring"),
    ("ops.tasks.run_retention_job", ["events"], "retention"),
    ("calltracking.tasks.restore_archived_recording", [1], "retention"),
    ("ops.tasks.check_alerts", [], "monitoring"),
    ("ops.tasks.snapshot_database_size", [], "monitoring"),
    ("campaigns.tasks.sweep_imports", [], "monitoring"),
    ("campaigns.tasks.sweep_mailings", [], "monitoring"),
    ("calltracking.tasks.sweep_recordings", [], "monitoring"),
    ("mailpieces.print_run_tasks.sweep_print_runs", [], "monitoring"),
    ("mobul.tasks.not_routed", [], "default"),
]


@pytest.fixture
def broker():
    connection = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queues = settings.CELERY_QUEUE_NAMES
    connection.delete(*queues)
    app.conf.task_always_eager = False
    try:
        yield connection
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
        connection.delete(*queues)


def _waiting(broker):
    """Queue name → names of the tasks waiting in it."""
    return {queue: [json.loads(message)["headers"]["task"] for message in broker.lrange(queue, 0, -1)]
            for queue in settings.CELERY_QUEUE_NAMES if broker.llen(queue)}


@pytest.mark.parametrize("name, args, queue", EXPECTED)
def test_each_kind_of_work_is_published_to_its_queue(broker, name, args, queue):
    app.loader.import_default_modules()
    if name in app.tasks:
        app.tasks[name].apply_async(args=args)  # as the services queue them
    else:
        app.send_task(name, args=args)  # a name no task has: the fallback queue
    assert _waiting(broker) == {queue: [name]}


def test_every_project_task_is_routed_to_a_queue_of_its_kind():
    """A new task must be given a queue in CELERY_TASK_ROUTES (by name or pattern), not fall into `default`."""
    app.loader.import_default_modules()  # what a worker does at start: every app's tasks module
    project_tasks = [name for name in app.tasks if name.startswith(PROJECT_APPS)]
    assert len(project_tasks) >= 8
    for name in project_tasks:
        queue = app.amqp.router.route({}, name, args=(), kwargs={})["queue"].name
        assert queue in settings.CELERY_QUEUE_NAMES and queue != "default", f"{name} → {queue}"


def test_tasks_whose_loss_would_lose_work_acknowledge_late():
    """Periodic tasks are exempt: beat runs them again at the next tick."""
    app.loader.import_default_modules()
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in app.tasks:
        if name.startswith(PROJECT_APPS) and name not in periodic:
            assert app.tasks[name].acks_late, f"{name} would be lost with its worker"


def _consumed(command):
    return set(re.search(r"-Q\s+(\S+)", command).group(1).split(",")) if "-Q" in command else set()


def test_the_worker_groups_consume_every_queue_once():
    procfile = [line.split(":", 1)[1] for line in (ROOT / "Procfile.dev").read_text().splitlines()
                if " worker " in line]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = [" ".join(service["command"]) for service in compose.values()
                if " worker " in " ".join(service.get("command", []))]
    for groups in (procfile, commands):
        queues = [_consumed(command) for command in groups]
        assert set().union(*queues) == set(settings.CELERY_QUEUE_NAMES)
        assert sum(len(group) for group in queues) == len(settings.CELERY_QUEUE_NAMES)
        # Imports never share a worker with gift-card delivery.
        assert not any({"imports", "delivery"} <= group for group in queues)


def test_a_worker_without_queues_consumes_them_all():
    assert set(settings.CELERY_QUEUE_NAMES) <= set(app.amqp.queues)
