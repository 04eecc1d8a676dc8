import pytest
from django.utils import timezone

from analytics.partitions import add_months, list_partitions, month_start, partition_name
from analytics.tasks import maintain_partitions

pytestmark = pytest.mark.django_db


def test_maintain_partitions_keeps_this_month_and_the_next_three():
    maintain_partitions.delay()

    first = month_start(timezone.now().date())
    expected = {partition_name(add_months(first, offset)) for offset in range(4)}
    assert expected <= {partition.name for partition in list_partitions()}
    assert maintain_partitions.delay().get() == []
