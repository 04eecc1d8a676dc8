"""The card log (gift_card_logs): the one place that knows its columns and writes its rows.

Python code writes a row with `write()`. A hand-written statement writes its rows in the same statement,
with the INSERT that `insert_sql()` builds and the parameters that `params()` fills: one log row for each
row of a CTE (the cards that statement just changed).
"""

from enum import Enum

from django.utils import timezone

from accounts.access import request_actor
from mobul.db import sql_literal

from .models import GiftCardLog

REASON_MAX_LENGTH = GiftCardLog._meta.get_field("reason").max_length
COLUMNS = ("card_id", "action", "from_status", "to_status", "recipient_id", "actor_id", "api_key_id", "reason",
           "created_at")


def _status(status):
    if isinstance(status, Enum):
        return sql_literal(status)
    return status or "''"


def insert_sql(*, source, action, from_status, to_status, card="id", recipient="recipient_id"):
    """`INSERT INTO gift_card_logs ... SELECT ... FROM source`: a row per row of `source`.

    `card` and `recipient` are SQL expressions over `source`. The action is a choices member; so is each
    status, or "" for none, or an SQL expression over `source` (a column of a card the statement left in its
    status). Who acted, why and when are the statement's %(log_...)s parameters (see params())."""
    values = (card, sql_literal(action), _status(from_status), _status(to_status), recipient, "%(log_actor)s",
              "%(log_api_key)s", "%(log_reason)s", "%(log_at)s")
    return f"INSERT INTO gift_card_logs ({', '.join(COLUMNS)}) SELECT {', '.join(values)} FROM {source}"


def actor_ids(request=None, actor=None):
    """(user id, API key id) of whoever acts: `actor` (a user) if given, else the request's user or key."""
    user, api_key = request_actor(request)
    return getattr(actor or user, "pk", None), getattr(api_key, "pk", None)


def params(*, at, reason="", actor_id=None, api_key_id=None):
    """The %(log_...)s parameters of a statement built with insert_sql()."""
    return {"log_actor": actor_id, "log_api_key": api_key_id, "log_reason": reason[:REASON_MAX_LENGTH],
            "log_at": at}


def write(card, action, from_status, *, request=None, actor=None, reason=""):
    """One row for `card`, which has just moved from `from_status` to its current status."""
    actor_id, api_key_id = actor_ids(request, actor)
    return GiftCardLog.objects.create(
        card_id=card.pk, action=action, from_status=from_status, to_status=card.status,
        recipient_id=card.recipient_id, actor_id=actor_id, api_key_id=api_key_id,
        reason=reason[:REASON_MAX_LENGTH], created_at=timezone.now(),
    )
