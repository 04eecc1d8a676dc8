"""Preflight of rendered mail pieces: what would make a piece fail in the mail, found per piece and side.

Positions come from WeasyPrint's own layout of the batch (each page's boxes, in CSS px from the trim's corner);
QR codes are decoded by zxing-cpp from the printed page, rasterised by pypdfium2 only where an image is printed
(a QR code is an image: Mobul's SVG or a template's picture), so whatever covers it is in the decoded pixels.
CSS transforms are not applied to the positions read back.
"""

from dataclasses import asdict, dataclass
from urllib.parse import unquote

import pypdfium2
import zxingcpp
from weasyprint.formatting_structure import boxes
from weasyprint.images import RasterImage

from .choices import FindingKind, Side
from .layout import BLEED, CSS_PX_PER_INCH, POINTS_PER_INCH, Rect
from .render import QR_FIELD, page_index

# The dpi a code is read at when its module count is unknown (a template's image), and the most any is read at.
QR_DPI = 200
# Mobul's code with modules under 0.4 mm smudges in offset print and scans badly: it counts as no code.
MIN_MODULE_INCHES = 0.015
# zxing reads an antialiased greyscale code reliably from about 3 px a module; one more for margin.
PX_PER_MODULE = 4
# Read a little around an image's box, so rounding never cuts the code's quiet zone.
_AREA_MARGIN = 0.05
MIN_IMAGE_DPI = 300
# A template that prints these empty says "Dear ," or leaves a line out of the address.
REQUIRED_FIELDS = frozenset({"first_name", "last_name", "full_name", "address1", "city", "postal_code"})
_SAMPLE_LENGTH = 40


@dataclass(frozen=True)
class Finding:
    recipient_id: int
    side: str
    kind: str
    message: str

    def as_dict(self):
        return asdict(self)


def preflight(renderer, recipients):
    """Every finding on the pieces of `recipients` (a list), rendered by `renderer` as one batch."""
    batch = renderer.render(recipients)
    return batch_findings(renderer, batch, batch.write_pdf())


def batch_findings(renderer, batch, pdf_bytes):
    """Every finding on the pieces of a rendered batch, whose PDF is `pdf_bytes`."""
    pdf = pypdfium2.PdfDocument(pdf_bytes)
    try:
        findings = []
        for index, recipient in enumerate(batch.recipients):
            values = batch.values[index]
            found = [*_merge_findings(renderer, values),
                     *_refusal_findings(renderer, batch.refused.values(), batch.sides[index])]
            code_areas = {}
            for side in Side:
                page_box = batch.document.pages[page_index(index, side)]._page_box
                found += _layout_findings(renderer.layout, side, page_box)
                code_areas[side] = list(_code_areas(page_box))
            found += _qr_findings(renderer, values["qr_url"], pdf, index, code_areas)
            findings += [Finding(recipient.pk, side, kind, message) for side, kind, message in found]
        return findings
    finally:
        pdf.close()


def _merge_findings(renderer, values):
    for side, template in renderer.sides.items():
        for name in sorted(template.fields - {QR_FIELD}):
            if name not in values:
                yield side, FindingKind.MERGE_FIELD_UNKNOWN, (
                    f"{{{{ {name} }}}} is neither a standard field nor one of this recipient's custom fields; "
                    "it prints empty.")
            elif name in REQUIRED_FIELDS and not values[name].strip():
                yield side, FindingKind.MERGE_FIELD_EMPTY, f"{{{{ {name} }}}} is empty for this recipient."
    side = renderer.layout.address_side
    if not (values["full_name"].strip() or values["company"].strip()):
        yield side, FindingKind.MERGE_FIELD_EMPTY, "The address block has no name: neither a name nor a company."
    for name in ("address1", "city", "postal_code"):
        if not values[name].strip():
            yield side, FindingKind.MERGE_FIELD_EMPTY, f"The address block has no {name}."


def _refusal_findings(renderer, refusals, sides_html):
    """A refused URL is charged to the side whose HTML or styles name it (a merge value can name one)."""
    for refusal in refusals:
        spellings = {refusal.url, unquote(refusal.url)}
        named = [side for side in Side
                 if any(spelling in text for text in (sides_html[side], *renderer.sides[side].styles)
                        for spelling in spellings)]
        what = ("is not an uploaded asset of this client" if refusal.kind == FindingKind.UNKNOWN_ASSET
                else "is outside Mobul and was not loaded: upload it as an asset")
        for side in named or [Side.FRONT]:
            yield side, refusal.kind, f"{refusal.url[:200]} {what}."


def _layout_findings(layout, side, page_box):
    reserved = layout.reserved if side == layout.address_side else {}
    outside_safe, over_reserved, overflow, low_dpi = [], [], [], []
    for box, region in _walk(page_box, "mobul"):
        if region == "address":
            if isinstance(box, boxes.TextBox) and box.text.strip() and not layout.address_block.contains(
                    _border_rect(box)):
                overflow.append(box.text)
            continue
        if region != "art":
            continue
        if isinstance(box, boxes.TextBox) and box.text.strip():
            rect = _border_rect(box)
            if not layout.safe_zone.contains(rect):
                outside_safe.append(f"“{_sample(box.text)}” ({rect.describe()})")
            over_reserved += [f"text “{_sample(box.text)}” on the {name}" for name, area in reserved.items()
                              if area.overlaps(rect)][:1]
        for image, covered, (width, height), label in _images(box):
            over_reserved += [f"{label} on the {name}" for name, area in reserved.items()
                              if area.overlaps(covered)][:1]
            if isinstance(image, RasterImage) and width > 0 and height > 0:
                dpi = min(image.width / width, image.height / height)
                if dpi < MIN_IMAGE_DPI:
                    low_dpi.append(f"{label} prints at {dpi:.0f} dpi ({image.width} × {image.height} px over "
                                   f"{width:.2f} × {height:.2f} in)")
    if outside_safe:
        yield side, FindingKind.OUTSIDE_SAFE_ZONE, (
            f"Text outside the safe zone (0.125 in inside the trim) may be cut off: {_listed(outside_safe)}.")
    if over_reserved:
        yield side, FindingKind.OVER_ADDRESS_AREA, (
            f"The address block, indicia and barcode area must stay ink-free; it is covered in print: "
            f"{_listed(over_reserved)}.")
    if overflow:
        yield side, FindingKind.ADDRESS_OVERFLOW, (
            f"The address does not fit its {layout.address_block.width:.2f} × {layout.address_block.height:.2f} in "
            f"block and would be cut: {_listed([f'“{_sample(text)}”' for text in overflow])}. Shorten the name or "
            "address lines.")
    if low_dpi:
        yield side, FindingKind.LOW_RESOLUTION_IMAGE, (
            f"Images need {MIN_IMAGE_DPI} dpi at their printed size: {_listed(low_dpi)}.")


def _walk(box, region):
    """(box, region) of every box below `box`; the region is whose content it is: the template's ("art"),
    Mobul's address block ("address"), or Mobul's frame ("mobul")."""
    box = getattr(box, "_box", box)  # an absolutely positioned box sits behind a placeholder
    element = getattr(box, "element", None)
    classes = (element.get("class") or "").split() if element is not None else ()
    if "mobul-art" in classes:
        region = "art"
    elif "mobul-address" in classes:
        region = "address"
    yield box, region
    for child in getattr(box, "children", ()):
        yield from _walk(child, region)


def _border_rect(box):
    return Rect.from_css_px(box.border_box_x(), box.border_box_y(), box.border_width(), box.border_height())


def _images(box):
    """(image, area it covers, (width, height) in inches of one copy of it, label) of the box's own image and
    background images: the dpi is the image's over one copy (a tile), the overlap the whole area's."""
    if isinstance(box, boxes.ReplacedBox):
        source = box.element.get("src") if box.element is not None else None
        label = f"image {source[:80]}" if source else f"<{box.element_tag}> image"
        area = Rect.from_css_px(box.content_box_x(), box.content_box_y(), box.width, box.height)
        yield box.replacement, area, (area.width, area.height), label
    background = getattr(box, "background", None)
    for layer in background.layers if background else ():
        if layer.image is not None:
            width, height = layer.size
            yield (layer.image, Rect.from_css_px(*layer.painting_area),
                   (width / CSS_PX_PER_INCH, height / CSS_PX_PER_INCH), "background image")


def _code_areas(page_box):
    """(area, dpi) of every printed image of a page that could be a QR code, with the dpi to read it at."""
    for box, _ in _walk(page_box, "mobul"):
        for _, area, _, _ in _images(box):
            dpi = _reading_dpi(box, area) if area.width > 0 and area.height > 0 else None
            if dpi is not None:
                yield area, dpi


def _reading_dpi(box, area):
    """Mobul's own code (its SVG's viewBox counts its modules, quiet zone included) is read at the lowest dpi
    that gives each module PX_PER_MODULE px, up to QR_DPI, or not at all (None) when printed too small; any other
    image at QR_DPI."""
    element = getattr(box, "element", None)
    if element is None or "mobul-qr" not in (element.get("class") or "").split():
        return QR_DPI
    try:
        module = min(area.width, area.height) / float(element.get("viewBox").split()[2])
    except (AttributeError, IndexError, ValueError, ZeroDivisionError):
        return QR_DPI
    return None if module < MIN_MODULE_INCHES else min(QR_DPI, PX_PER_MODULE / module)


def _decode_area(pdf_page, area, dpi):
    """The QR codes' texts read from `area` (inches from the trim's corner) of a page as printed."""
    page_width, page_height = (length / POINTS_PER_INCH for length in pdf_page.get_size())
    left = max(0.0, area.left + BLEED - _AREA_MARGIN)
    top = max(0.0, area.top + BLEED - _AREA_MARGIN)
    right = min(page_width, area.right + BLEED + _AREA_MARGIN)
    bottom = min(page_height, area.bottom + BLEED + _AREA_MARGIN)
    if right <= left or bottom <= top:
        return []
    crop = tuple(POINTS_PER_INCH * inches for inches in (left, page_height - bottom, page_width - right, top))
    image = pdf_page.render(scale=dpi / POINTS_PER_INCH, crop=crop, grayscale=True).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def _qr_findings(renderer, expected, pdf, index, code_areas):
    decoded = {}
    for side, areas in code_areas.items():
        pdf_page = pdf[page_index(index, side)]
        decoded[side] = list(dict.fromkeys(text for area, dpi in areas for text in _decode_area(pdf_page, area, dpi)))
    for side, texts in decoded.items():
        for text in texts:
            if text != expected:
                yield side, FindingKind.QR_WRONG_URL, (
                    f"A QR code leads to {text[:200]!r}, not to this recipient's page {expected}.")
    if not any(expected in texts for texts in decoded.values()):
        side = next((side for side, template in renderer.sides.items() if QR_FIELD in template.fields), Side.FRONT)
        yield side, FindingKind.QR_MISSING, (
            f"No QR code on the piece decodes to this recipient's page {expected}: put {{{{ {QR_FIELD} }}}} on a "
            "side, at least 0.8 in square, in the safe zone and off the address block.")


def _sample(text):
    text = " ".join(text.split())
    return text if len(text) <= _SAMPLE_LENGTH else f"{text[:_SAMPLE_LENGTH - 1]}…"


def _listed(items, most=3):
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return "; ".join(items[:most]) + more
