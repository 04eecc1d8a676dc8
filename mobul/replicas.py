"""Read replicas: which reads may go to the replica, and the router and middleware that send them there.

Active only when DATABASE_REPLICA_URL is set (settings then install the router and the middleware).
Nothing reads from the replica unless a view opted in for the current request (list endpoints, analytics,
dashboards: `ReplicaReadsMixin`, `@replica_reads`), and even then a read goes to the primary when
- it runs inside a transaction on the primary (it must see that transaction's own rows), or
- the request has written anything (read-your-writes: the replica may lag, so the request stays on the
  primary from its first write to its end), or
- the same caller (API key or signed-in user) wrote in the last DATABASE_REPLICA_STICKY_SECONDS: a client that
  creates then lists sees what it created, whatever the replica's lag.
Celery tasks, management commands and the shell have no request state: they read from the primary.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
# Statements that change nothing; anything else on the primary makes the request sticky.
READ_ONLY_PREFIXES = ("SELECT", "SHOW", "EXPLAIN")


def _caller_key(request):
    """Cache key of the caller who made `request` (API key or user), or None for an anonymous caller."""
    api_key = getattr(request, "auth", None)
    if getattr(api_key, "pk", None) is not None:
        return f"replica:wrote:key:{api_key.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"replica:wrote:user:{user.pk}"
    return None


@dataclass
class RequestDatabaseState:
    replica_allowed: bool = False
    wrote: bool = False


# One state object per request, mutated in place, so that flags set deep inside a view are seen by the router.
_request_state: ContextVar[RequestDatabaseState | None] = ContextVar("request_database_state", default=None)


def allow_replica_reads(request):
    """Lets the rest of `request` read from the replica (until it writes), unless its caller wrote a moment ago.

    Call it once the caller is known (after authentication). Outside a request: no effect.
    """
    state = _request_state.get()
    if state is None:
        return
    caller = _caller_key(request)
    state.replica_allowed = caller is None or cache.get(caller) is None


def replica_reads(view):
    """Decorator for a function view whose reads may go to the replica (a dashboard page, a report)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        allow_replica_reads(request)
        return view(request, *args, **kwargs)

    return wrapped


class ReplicaReadsMixin:
    """For DRF views: the actions named in `replica_actions` read from the replica (default: `list`).

    A GenericAPIView without actions opts in for GET with `replica_actions = {"get"}`.
    """

    replica_actions = frozenset({"list"})

    def initial(self, request, *args, **kwargs):
        # Authentication and permissions read the primary: a key revoked or created a moment ago counts at once.
        super().initial(request, *args, **kwargs)
        action = getattr(self, "action", None) or request.method.lower()
        if action in self.replica_actions:
            allow_replica_reads(request)


def _mark_writes(execute, sql, params, many, context):
    state = _request_state.get()
    if state is not None and not state.wrote:
        # A composed statement (psycopg.sql) is not inspected: counted as a write, the safe side.
        read_only = isinstance(sql, str) and sql.lstrip()[:7].upper().startswith(READ_ONLY_PREFIXES)
        state.wrote = not read_only
    return execute(sql, params, many, context)


class ReplicaRequestMiddleware:
    """Gives each request a fresh state, notes any write on the primary (raw SQL included), and after a request
    that wrote keeps its caller on the primary for DATABASE_REPLICA_STICKY_SECONDS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        state = RequestDatabaseState()
        token = _request_state.set(state)
        try:
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(_mark_writes):
                response = self.get_response(request)
        finally:
            _request_state.reset(token)
        caller = _caller_key(request) if state.wrote else None
        if caller is not None:
            cache.set(caller, 1, settings.DATABASE_REPLICA_STICKY_SECONDS)
        return response


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        state = _request_state.get()
        if (state is None or not state.replica_allowed or state.wrote
                or connections[DEFAULT_DB_ALIAS].in_atomic_block):
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        state = _request_state.get()
        if state is not None:
            state.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
