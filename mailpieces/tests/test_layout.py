import io

import pypdfium2
import pytest
from PIL import Image

from campaigns.choices import MailSize
from mailpieces.choices import Side
from mailpieces.layout import BLEED, LAYOUTS, POINTS_PER_INCH
from mailpieces.render import MailPieceRenderer, page_index, thumbnails
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db

TRIMS = {MailSize.POSTCARD_4X6: (6, 4), MailSize.POSTCARD_6X9: (9, 6), MailSize.POSTCARD_6X11: (11, 6),
         MailSize.LETTER: (8.5, 11)}


def _text(page):
    textpage = page.get_textpage()
    try:
        return textpage.get_text_range()
    finally:
        textpage.close()


@pytest.mark.parametrize("size", list(MailSize))
def test_every_size_renders_at_its_trim_plus_bleed_with_a_trim_box(tenant_a, size):
    campaign = campaign_with(tenant_a.client, size=size, front="<p>front {{ first_name }}</p>",
                             back="<p>back {{ first_name }}</p>")
    recipients = [add_recipient(campaign, n) for n in range(3)]
    pdf = pypdfium2.PdfDocument(MailPieceRenderer(campaign).write_pdf(recipients))
    width, height = TRIMS[size]
    assert len(pdf) == 6
    for page in pdf:
        assert page.get_size() == pytest.approx(((width + 2 * BLEED) * POINTS_PER_INCH,
                                                 (height + 2 * BLEED) * POINTS_PER_INCH))
        trim = page.get_trimbox()
        assert (trim[2] - trim[0], trim[3] - trim[1]) == pytest.approx((width * POINTS_PER_INCH,
                                                                        height * POINTS_PER_INCH))
    pdf.close()


def test_pieces_keep_their_order_front_then_back_and_the_address_prints_on_the_address_side(tenant_a):
    campaign = campaign_with(tenant_a.client, size=MailSize.LETTER, front="<p>front of {{ first_name }}</p>",
                             back="<p>back of {{ first_name }}</p>")
    recipients = [add_recipient(campaign, n) for n in range(3)]
    pdf = pypdfium2.PdfDocument(MailPieceRenderer(campaign).write_pdf(recipients))
    for n in range(3):
        front, back = (_text(pdf[page_index(n, side)]) for side in Side)
        assert f"front of Ann{n}" in front and f"back of Ann{n}" in back
        # A letter's address shows through the envelope's window of its first page.
        assert f"{n} MAIN ST" in front and "MAIN ST" not in back
    pdf.close()
    postcard = campaign_with(tenant_a.client, size=MailSize.POSTCARD_4X6, front="<p>hello</p>", back="")
    pdf = pypdfium2.PdfDocument(MailPieceRenderer(postcard).write_pdf([add_recipient(postcard, 7)]))
    assert "MAIN ST" not in _text(pdf[0]) and "ANN7 LEE" in _text(pdf[1])
    pdf.close()


def test_the_reserved_areas_lie_in_the_safe_zone_of_the_address_side():
    for layout in LAYOUTS.values():
        assert layout.safe_zone.contains(layout.ink_free)
        assert layout.ink_free.contains(layout.address_block)
        if layout.indicia:
            assert layout.ink_free.contains(layout.indicia) and not layout.indicia.overlaps(layout.address_block)
    assert LAYOUTS[MailSize.POSTCARD_4X6].ink_free.width == 3.2835
    assert (LAYOUTS[MailSize.POSTCARD_6X9].ink_free.width, LAYOUTS[MailSize.POSTCARD_6X9].ink_free.height) == (4, 2.375)


def test_a_pdf_written_to_a_file_and_its_thumbnails(tenant_a, tmp_path):
    campaign = campaign_with(tenant_a.client)
    recipients = [add_recipient(campaign, n) for n in range(2)]
    path = tmp_path / "pieces.pdf"
    with open(path, "wb") as handle:
        assert MailPieceRenderer(campaign).write_pdf(recipients, handle) is None
    front, back = thumbnails(str(path), [page_index(1, Side.FRONT), page_index(1, Side.BACK)], width_px=300)
    for png in (front, back):
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width == 300
        assert image.height == round(300 * 6.25 / 9.25)


def test_pieces_beyond_one_document_are_joined_in_order_with_their_trim_boxes(tenant_a, monkeypatch):
    monkeypatch.setattr("mailpieces.render.DOCUMENT_PIECES", 2)
    campaign = campaign_with(tenant_a.client, front="<p>front of {{ first_name }}</p>", back="<p>back</p>")
    recipients = [add_recipient(campaign, n) for n in range(5)]
    pdf = pypdfium2.PdfDocument(MailPieceRenderer(campaign).write_pdf(recipients))
    assert len(pdf) == 10
    assert [f"front of Ann{n}" in _text(pdf[page_index(n, Side.FRONT)]) for n in range(5)] == [True] * 5
    assert all(page.get_trimbox() == (0, 0, 648, 432) for page in pdf)
    pdf.close()
