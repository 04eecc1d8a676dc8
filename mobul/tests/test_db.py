from contextlib import nullcontext

from django.db import connection, transaction
from django.utils import timezone

import pytest

from mobul.db import pipeline, prepared_cursor

pytestmark = pytest.mark.django_db


def test_a_pipelined_statement_runs_while_python_carries_on():
    with pipeline(), prepared_cursor() as cursor:
        cursor.execute("SELECT clock_timestamp() + interval '0.2 seconds', pg_sleep(0.2)")
        returned_at = timezone.now()
        (done_at, _) = cursor.fetchone()
    assert returned_at < done_at, "execute() waited for the statement"


@pytest.mark.parametrize("in_transaction", [False, True])
def test_the_connection_leaves_pipeline_mode_after_the_block(in_transaction):
    with transaction.atomic() if in_transaction else nullcontext():
        with pipeline(), prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [41])
            assert cursor.fetchone() == (42,)
        # COPY is refused in pipeline mode.
        with connection.cursor() as cursor, cursor.cursor.copy("COPY (SELECT 1) TO STDOUT") as copy:
            assert [bytes(data) for data in copy] == [b"1\n"]
