import pypdfium2
import pytest
import zxingcpp

from campaigns.export import qr_url
from mailpieces.choices import Side
from mailpieces.preflight import QR_DPI
from mailpieces.render import MailPieceRenderer, page_index, rasterize
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db


def test_each_piece_carries_a_qr_code_that_decodes_to_its_recipients_url(tenant_a):
    campaign = campaign_with(tenant_a.client)
    recipients = [add_recipient(campaign, n) for n in range(3)]
    pdf = pypdfium2.PdfDocument(MailPieceRenderer(campaign).write_pdf(recipients))
    for n, recipient in enumerate(recipients):
        front = rasterize(pdf, page_index(n, Side.FRONT), QR_DPI)
        back = rasterize(pdf, page_index(n, Side.BACK), QR_DPI)
        assert [code.text for code in zxingcpp.read_barcodes(front)] == [qr_url(recipient)]
        assert zxingcpp.read_barcodes(back) == []
    pdf.close()
