import pytest

from campaigns.models import Campaign


@pytest.fixture
def campaign(tenant_a):
    return Campaign.objects.create(client=tenant_a.client, name="Spring mailing")
