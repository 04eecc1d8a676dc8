import pypdfium2
import pytest
import zxingcpp

from campaigns.export import qr_url
from mailpieces.choices import Side
from mailpieces.preflight import QR_DPI
from mailpieces.layout import POINTS_PER_INCH
from mailpieces.render import MailPieceRenderer, page_index
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db


def rasterize(pdf_document, index, dpi):
    """The whole page, read apart from preflight (which reads only where images print)."""
    return pdf_document[index].render(scale=dpi / POINTS_PER_INCH, grayscale=True).to_pil()


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
