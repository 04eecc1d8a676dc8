import io

from django.core.files.base import ContentFile
from PIL import Image

from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory
from mailpieces.models import TemplateAsset

# Everything in the safe zone, nothing on the address side's ink-free area, a QR code of the right size.
CLEAN_FRONT = """<style>
.mobul-front .headline { position: absolute; left: 0.5in; top: 0.5in; width: 5in; font: bold 20pt "DejaVu Sans"; }
.mobul-front .code { position: absolute; left: 0.5in; top: 2in; width: 3in; font: 10pt "DejaVu Sans"; }
.mobul-front .qr { position: absolute; left: 0.5in; top: 2.5in; width: 1.2in; height: 1.2in; }
.mobul-front .qr svg { width: 1.2in; height: 1.2in; }
</style>
<div class="headline">Hi {{ first_name }}</div>
<div class="code">Code {{ short_code }}</div>
<div class="qr">{{ qr_code }}</div>"""
CLEAN_BACK = """<div style="position: absolute; left: 0.5in; top: 0.5in; width: 2in; font: 10pt 'DejaVu Sans'">
Dear {{ full_name }}, thanks from {{ campaign_name }}.</div>"""


def campaign_with(client, *, size="6x9", front=CLEAN_FRONT, back=CLEAN_BACK, name="Spring"):
    template = MailTemplateFactory(client=client, size=size, front_html=front, back_html=back)
    return CampaignFactory(client=client, template=template, name=name)


def add_recipient(campaign, n=0, **fields):
    values = {"first_name": f"Ann{n}", "last_name": "Lee", "address1": f"{n} Main St", "city": "Boston",
              "state": "MA", "postal_code": "02108", **fields}
    return create_recipient(campaign=campaign, **values)


def png_bytes(width, height, color=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_asset(client, name, width, height, color=(200, 30, 30)):
    asset = TemplateAsset(client=client, name=name)
    asset.image.save(f"{name}.png", ContentFile(png_bytes(width, height, color)), save=False)
    asset.full_clean()
    asset.save()
    return asset


def ready_proof(campaign, *, findings=()):
    """A ready proof of the campaign as it is now, written directly (no rendering), with a PDF and its first
    recipient's piece: for tests of the rules and pages that need one. `findings` are dicts as a proof stores them."""
    from mailpieces.choices import ProofStatus
    from mailpieces.models import Proof, ProofPiece
    from mailpieces.proofs import fingerprint

    campaign.refresh_from_db()
    version = campaign.proofs.count() + 1
    proof = Proof(campaign=campaign, version=version, status=ProofStatus.READY, fingerprint=fingerprint(campaign),
                  findings=list(findings))
    proof.pdf.save(f"proof-{campaign.pk}-v{version}.pdf", ContentFile(b"%PDF-1.4 test proof"), save=False)
    first = campaign.recipients.order_by("pk").first()
    proof.pieces_total = proof.pieces_done = 1 if first else 0
    proof.save()
    if first is not None:
        piece = ProofPiece(proof=proof, position=1, recipient=first, reasons=["first"])
        for side in ("front", "back"):
            piece.thumbnail(side).save(f"proof-{proof.pk}-{side}.png", ContentFile(png_bytes(60, 40)), save=False)
        piece.save()
    return proof
