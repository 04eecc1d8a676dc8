from datetime import UTC, date, datetime

import pytest

from analytics.partitions import list_partitions
from analytics.tasks import maintain_partitions

from .test_partitions import months

pytestmark = pytest.mark.django_db


def test_maintain_partitions_keeps_the_retention_window_and_the_next_three_months(unpartitioned, time_machine):
    time_machine.move_to(datetime(2027, 1, 1, 2, 0, tzinfo=UTC))
    maintain_partitions.delay()

    assert [partition.name for partition in list_partitions()] == months(date(2025, 1, 1), date(2027, 4, 1))
    assert maintain_partitions.delay().get() == []
