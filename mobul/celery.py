import logging
import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.core.cache import cache
from django.db import transaction

from .middleware import current_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mobul.settings")

app = Celery("mobul")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("mobul.tasks")


def after_commit(hook):
    """Runs `hook` (which queues work) once the transaction commits. An error it raises, such as a broker that
    is down, is logged (by Django) and goes no further: it costs a message, never the committed request. Each
    caller's work has a sweeper or a periodic run behind it that queues it again."""
    transaction.on_commit(hook, robust=True)


def queue_once(task, key, *, timeout, args=(), countdown=None):
    """Queues `task` unless a run queued under `key` has not started yet: a burst of triggers makes one run.

    The task deletes `key` before it reads its work, so a trigger after that queues the next run. `timeout`
    bounds how long a lost message holds the key back. Returns whether this call queued the run."""
    if not cache.add(key, 1, timeout=timeout):
        return False
    task.apply_async(args, countdown=countdown)
    return True


def message_counts(queue_names):
    """{queue: messages waiting in it} as the broker reports them (not those a worker holds); a queue nobody
    declared yet has 0."""
    counts = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for name in queue_names:
            try:
                counts[name] = channel.queue_declare(queue=name, passive=True).message_count
            except conn.channel_errors:
                counts[name] = 0
                channel = conn.channel()  # the failed passive declare closed the channel on AMQP brokers
    return counts


def queue_of(task):
    """The queue `task`'s messages are routed to."""
    return app.amqp.router.route({}, task.name)["queue"].name


REQUEST_ID_HEADER = "request_id"
_adopted = {}  # task id -> context token, while the task runs


@before_task_publish.connect
def send_request_id(headers=None, **kwargs):
    """A task queued while serving a request carries the request's id in its message headers."""
    request_id = current_request_id()
    if headers is not None and request_id != "-":
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def adopt_request_id(task_id=None, task=None, **kwargs):
    """The worker logs the task's lines under the id of the request that queued it."""
    request_id = getattr(task.request, REQUEST_ID_HEADER, None)
    if request_id:
        _adopted[task_id] = request_id_var.set(request_id)
    logger.info("Task %s started", task.name, extra={"task_id": task_id, "task_name": task.name})


@task_postrun.connect
def forget_request_id(task_id=None, **kwargs):
    token = _adopted.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
