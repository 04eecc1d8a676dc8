import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError
from PIL import Image

from mailpieces.choices import FindingKind, Side
from mailpieces.models import TemplateAsset
from mailpieces.preflight import preflight
from mailpieces.render import MailPieceRenderer, page_index, thumbnails
from mailpieces.tests.factories import CLEAN_FRONT, add_recipient, campaign_with, png_bytes, upload_asset

pytestmark = pytest.mark.django_db

RED, BLUE = (220, 20, 20), (20, 20, 220)
LOGO = '<div style="position: absolute; left: 3in; top: 0.5in"><img src="asset:logo" style="width: 1in"></div>'


def _pixel_of_the_logo(pdf):
    """The colour at the logo's middle (3.5 in, 1 in from the canvas' corner) on a 925 px wide front."""
    [png] = thumbnails(pdf, [page_index(0, Side.FRONT)], width_px=925)
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((350, 100))


def test_an_upload_records_its_pixel_size_and_names_are_unique_per_client(tenant_a, tenant_b):
    asset = upload_asset(tenant_a.client, "logo", 640, 320)
    assert (asset.width_px, asset.height_px) == (640, 320)
    saved_with_its_file = TemplateAsset(client=tenant_a.client, name="banner")
    saved_with_its_file.image.save("banner.png", ContentFile(png_bytes(30, 20)))
    saved_with_its_file.refresh_from_db()
    assert (saved_with_its_file.width_px, saved_with_its_file.height_px) == (30, 20)
    upload_asset(tenant_b.client, "logo", 10, 10)
    with pytest.raises(ValidationError):
        upload_asset(tenant_a.client, "Not a name!", 10, 10)
    with pytest.raises((ValidationError, IntegrityError)):
        upload_asset(tenant_a.client, "logo", 10, 10)


def test_a_template_reaches_its_own_clients_assets_only(tenant_a, tenant_b):
    upload_asset(tenant_a.client, "logo", 600, 600, RED)
    upload_asset(tenant_b.client, "logo", 600, 600, BLUE)
    upload_asset(tenant_b.client, "only-b", 600, 600, BLUE)
    own = campaign_with(tenant_a.client, front=CLEAN_FRONT + LOGO)
    theirs = campaign_with(tenant_b.client, front=CLEAN_FRONT + LOGO)
    assert _pixel_of_the_logo(MailPieceRenderer(own).write_pdf([add_recipient(own)])) == pytest.approx(RED, abs=8)
    assert _pixel_of_the_logo(MailPieceRenderer(theirs).write_pdf([add_recipient(theirs)])) == pytest.approx(
        BLUE, abs=8)

    reaching = campaign_with(tenant_a.client, front=CLEAN_FRONT + LOGO.replace("asset:logo", "asset:only-b"))
    recipient = add_recipient(reaching)
    renderer = MailPieceRenderer(reaching)
    assert _pixel_of_the_logo(renderer.write_pdf([recipient])) == pytest.approx((255, 255, 255), abs=8)
    [finding] = preflight(renderer, [recipient])
    assert (finding.kind, finding.side) == (FindingKind.UNKNOWN_ASSET, Side.FRONT)
    assert "asset:only-b is not an uploaded asset of this client" in finding.message
