import io

import pypdfium2
import pytest
from PIL import Image

from mailpieces.choices import Side
from mailpieces.layout import BLEED, LAYOUTS
from mailpieces.render import MailPieceRenderer, page_index, thumbnails
from mailpieces.tests.factories import CLEAN_BACK, add_recipient, campaign_with

pytestmark = pytest.mark.django_db

HOSTILE_CSS = """<style>
.mobul-ink-free { display: none !important; left: 0 !important; background: red !important; }
.mobul-address, .mobul-address div { font-size: 1pt !important; color: white !important; visibility: hidden !important; }
.mobul-art { z-index: 99 !important; }
.cover { position: absolute; z-index: 1000; left: 0; top: 0; width: 9.25in; height: 6.25in; background: black; }
</style><div class="cover"></div>"""


def test_the_template_cannot_move_hide_or_cover_the_address_block(tenant_a):
    campaign = campaign_with(tenant_a.client, back=CLEAN_BACK + HOSTILE_CSS)
    recipient = add_recipient(campaign, 5)
    pdf = MailPieceRenderer(campaign).write_pdf([recipient])
    document = pypdfium2.PdfDocument(pdf)
    textpage = document[page_index(0, Side.BACK)].get_textpage()
    assert "ANN5 LEE" in textpage.get_text_range()
    textpage.close()
    document.close()
    [png] = thumbnails(pdf, [page_index(0, Side.BACK)], width_px=925)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    layout = LAYOUTS[campaign.template.size]
    # 100 px an inch, from the bleed's corner: the ink-free area is white, black text on it; the rest is covered.
    inside = [image.getpixel((round((layout.ink_free.left + BLEED + x / 10) * 100),
                              round((layout.ink_free.top + BLEED + y / 10) * 100))) for x in range(1, 40)
              for y in range(1, 23)]
    assert inside.count((255, 255, 255)) > len(inside) * 0.8
    assert any(pixel[0] < 100 for pixel in inside)
    assert image.getpixel((100, 100)) == (0, 0, 0)
