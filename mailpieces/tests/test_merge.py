import csv
import io

import pypdfium2
import pytest

from campaigns.export import BASE_COLUMNS, merge_values
from campaigns.models import STANDARD_MERGE_FIELDS
from mailpieces.render import MailPieceRenderer
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db

HOSTILE = {
    "first_name": "<script>alert(1)</script>",
    "last_name": '</div><img src=x>"',
    "company": "{{ purl }}",
}


def test_hostile_merge_values_are_escaped_and_never_expanded(tenant_a):
    campaign = campaign_with(tenant_a.client, front='<p title="{{ last_name }}">A {{ first_name }} B {{ company }}</p>',
                             back="<p>{{ last_name }}</p>")
    recipient = add_recipient(campaign, custom_fields={"note": "{{ short_code }}"}, **HOSTILE)
    renderer = MailPieceRenderer(campaign)
    sides = renderer.sides_html(renderer.merge_values(recipient))
    markup = sides["front"] + sides["back"]
    assert "<script>" not in markup and "<img src=x>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert 'title="&lt;/div&gt;&lt;img src=x&gt;&quot;"' in markup
    assert recipient.purl not in markup
    pdf = pypdfium2.PdfDocument(renderer.write_pdf([recipient]))
    textpage = pdf[0].get_textpage()
    printed = textpage.get_text_range()
    textpage.close()
    pdf.close()
    # The values print as they are: the markup as text, the braces unexpanded.
    assert "A <script>alert(1)</script> B {{ purl }}" in printed


def test_merge_values_hold_every_standard_field_and_custom_fields_never_shadow_them(tenant_a):
    campaign = campaign_with(tenant_a.client, name="Fall")
    recipient = add_recipient(campaign, custom_fields={"tier": "gold", "city": "Elsewhere", "visits": 3})
    values = merge_values(recipient, campaign_name=campaign.name)
    assert STANDARD_MERGE_FIELDS <= values.keys()
    assert values["city"] == "Boston" and values["tier"] == "gold" and values["visits"] == "3"
    assert values["campaign_name"] == "Fall" and values["qr_url"] == f"{recipient.purl}?via=qr"
    assert values["short_code"] == f"{recipient.short_code[:5]}-{recipient.short_code[5:]}"


def test_the_print_file_keeps_its_columns_and_reads_the_same_merge_values(key_client, tenant_a):
    campaign = campaign_with(tenant_a.client)
    recipient = add_recipient(campaign, custom_fields={"tier": "gold"})
    response = key_client.get(f"/api/v1/campaigns/{campaign.pk}/export/")
    reader = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    header, row = next(reader), next(reader)
    assert header == ["recipient_id", "first_name", "last_name", "company", "address1", "address2", "city", "state",
                      "postal_code", "country", "short_code", "purl", "qr_url", "tier", "qr_svg"]
    values = merge_values(recipient, campaign_name=campaign.name)
    assert row[:-1] == [str(recipient.pk), *[values[column] for column in BASE_COLUMNS[1:]], "gold"]
