import csv
import io
import zipfile

import pytest

from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory
from campaigns.tokens import format_short_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    for n in range(3):
        create_recipient(campaign=campaign, first_name=f"Ann{n}", last_name="Lee", address1=f"{n} Main St",
                         city="Boston", state="MA", postal_code="02108", custom_fields={"tier": f"T{n}"})
    return campaign


def _content(response):
    return b"".join(response.streaming_content)


def test_csv_export_has_merge_fields_purl_and_inline_qr(key_client, campaign):
    response = key_client.get(f"/api/v1/campaigns/{campaign.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert 'filename="campaign-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_content(response).decode())))
    assert len(rows) == 3
    first = campaign.recipients.order_by("pk").first()
    assert rows[0]["first_name"] == "Ann0" and rows[0]["tier"] == "T0"
    assert rows[0]["purl"] == first.purl
    assert rows[0]["short_code"] == format_short_code(first.short_code)
    assert rows[0]["qr_url"] == f"{first.purl}?via=qr"
    assert rows[0]["qr_svg"].startswith("<svg")


def test_zip_export_has_the_csv_and_one_qr_file_per_recipient(key_client, campaign):
    response = key_client.get(f"/api/v1/campaigns/{campaign.pk}/export/?output=zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(_content(response)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == "recipients.csv"
    codes = sorted(campaign.recipients.values_list("short_code", flat=True))
    assert sorted(name for name in names if name.startswith("qr/")) == [f"qr/{code}.svg" for code in codes]
    assert archive.read(f"qr/{codes[0]}.svg").startswith(b"<?xml") or b"<svg" in archive.read(f"qr/{codes[0]}.svg")
    assert len(list(csv.DictReader(io.StringIO(archive.read("recipients.csv").decode())))) == 3


def test_unknown_format_is_a_clear_400(key_client, campaign):
    response = key_client.get(f"/api/v1/campaigns/{campaign.pk}/export/?output=pdf")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "output"
