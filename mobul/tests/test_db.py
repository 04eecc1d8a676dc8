import time
from contextlib import nullcontext

from django.db import connection, transaction

import pytest

from mobul.db import pipeline, prepared_cursor

pytestmark = pytest.mark.django_db


def test_a_pipelined_statement_runs_while_python_carries_on():
    # Timed on the monotonic clock: a test session's clock may be moved (MOBUL_TEST_CLOCK), PostgreSQL's is not.
    with pipeline(), prepared_cursor() as cursor:
        started = time.monotonic()
        cursor.execute("SELECT pg_sleep(0.2)")
        returned_after = time.monotonic() - started
        cursor.fetchone()
        done_after = time.monotonic() - started
    assert returned_after < 0.2 <= done_after, "execute() waited for the statement"


@pytest.mark.parametrize("in_transaction", [False, True])
def test_the_connection_leaves_pipeline_mode_after_the_block(in_transaction):
    with transaction.atomic() if in_transaction else nullcontext():
        with pipeline(), prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [41])
            assert cursor.fetchone() == (42,)
        # COPY is refused in pipeline mode.
        with connection.cursor() as cursor, cursor.cursor.copy("COPY (SELECT 1) TO STDOUT") as copy:
            assert [bytes(data) for data in copy] == [b"1\n"]
