"""Mail pieces rendered from a campaign's template: one print-ready PDF per batch, PNG thumbnails of its pages.

What a template can do (front_html and back_html are HTML fragments, one per side):
- Each side is a canvas of the full page, trim plus 0.125 in bleed on every side, whose top-left corner is the
  bleed's (mailpieces.layout); positioned elements are placed from it. Backgrounds should run into the bleed,
  text stay in the safe zone.
- `{{ field }}` is replaced by the recipient's merge value (campaigns.export.merge_values), HTML-escaped, in one
  pass: a value is never read as a merge field itself. `{{ qr_code }}` is an inline SVG QR code (class
  `mobul-qr`, 1 in square unless the template's CSS sizes it) of the recipient's `qr_url`.
- Images are the client's uploaded assets, `<img src="asset:logo">` or `url(asset:logo)`; `data:` URLs work too.
  Nothing else is fetched: no http(s), file or ftp URL, and no other client's assets.
- `<style>` elements are taken out of the sides and applied once per document (to both sides: scope them with
  `.mobul-front` / `.mobul-back`); merge fields are not expanded in them.
- The ink-free area of the address side (the postcard's back, the letter's first page) is Mobul's: the address
  block is printed there on white, above anything of the template, whatever its CSS says (Mobul's rules are
  user-origin `!important`, which outranks every author rule).

A batch of pieces is one WeasyPrint document (front then back of each piece, in order), and a renderer keeps its
parsed stylesheet, font configuration, split template and fetched assets for every batch it renders.
"""

import html
import io
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pypdfium2
import segno
import tinyhtml5
from django.core.files.storage import default_storage
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from campaigns.export import merge_values
from campaigns.models import MERGE_FIELD

from .choices import FindingKind, Side
from .exceptions import TemplateError
from .layout import BLEED, LAYOUTS
from .models import TemplateAsset

QR_FIELD = "qr_code"
ASSET_SCHEME = "asset"
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
# Pieces per WeasyPrint document: its layout and its PDF are held in memory whole (about 0.4 MB a piece), so more
# pieces are rendered as documents of this many, joined (pypdfium2) into one file.
DOCUMENT_PIECES = 100
_ADDRESS_FONT = '10pt/12pt "DejaVu Sans", "Liberation Sans", sans-serif'


@dataclass(frozen=True)
class SideTemplate:
    """One side's HTML without its styles, split at its merge fields: literal, field, literal, ..., literal."""

    parts: tuple
    styles: tuple

    @property
    def fields(self):
        return frozenset(self.parts[1::2])

    @classmethod
    def parse(cls, source, side):
        styles = tuple(_STYLE.findall(source))
        body = _STYLE.sub("", source)
        _check_self_contained(body, side)
        return cls(parts=tuple(MERGE_FIELD.split(body)), styles=styles)

    def merge(self, values):
        parts = list(self.parts)
        parts[1::2] = [values.get(name, "") for name in parts[1::2]]
        return "".join(parts)


def _check_self_contained(body, side):
    """Refuses a side whose HTML would swallow what follows it (the next side, the next pieces): an unclosed
    comment, <textarea>, <table> or element, or a <style> the extraction missed."""
    root = tinyhtml5.parse(f'<body><div id="mobul-side">{body}</div><div id="mobul-next"></div></body>',
                           namespace_html_elements=False)
    children = [element.get("id") for element in root.find("body")]
    if children != ["mobul-side", "mobul-next"] or root.find(".//style") is not None:
        raise TemplateError(
            f"The template's {side} HTML does not stand on its own: close every element, comment and table it "
            "opens, and keep its styles in plain <style> elements.", field=f"{side}_html")


@dataclass(frozen=True)
class Refusal:
    url: str
    kind: str


class PieceFetcher(URLFetcher):
    """WeasyPrint's only way to the outside: serves the client's assets and data: URLs, refuses (and records)
    everything else, so that rendering never touches the network or the disk beyond storage."""

    def __init__(self, client_id, assets):
        super().__init__(fail_on_errors=False)
        self.client_id = client_id
        self.assets = assets
        self.refused = {}

    def fetch(self, url, headers=None):
        scheme, _, rest = url.partition(":")
        scheme = scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == ASSET_SCHEME:
            name = unquote(rest)
            if name not in self.assets:
                self.assets[name] = _read_asset(self.client_id, name)
            if self.assets[name] is not None:
                body, content_type = self.assets[name]
                return URLFetcherResponse(url, body, headers={"Content-Type": content_type})
            self.refused[url] = Refusal(url, FindingKind.UNKNOWN_ASSET)
            raise LookupError(f"The client has no asset named {name!r}.")
        self.refused[url] = Refusal(url, FindingKind.REMOTE_RESOURCE)
        raise PermissionError(f"A mail piece loads nothing from outside: {url}")


def _read_asset(client_id, name):
    asset = TemplateAsset.objects.filter(client_id=client_id, name=name).first()
    if asset is None:
        return None
    with default_storage.open(asset.image.name, "rb") as handle:
        body = handle.read()
    return body, mimetypes.guess_type(asset.image.name)[0] or "application/octet-stream"


def qr_code_svg(url):
    # A fixed mask: choosing the best of the eight costs 4 ms a piece, and any mask at level M scans (the
    # preflight decodes every piece's code).
    return segno.make(url, error="m", mask=0).svg_inline(svgclass="mobul-qr", lineclass=None, omitsize=True)


def address_lines(values):
    """The delivery address as USPS wants it printed: name, company, street lines, then city, state and ZIP."""
    last_line = " ".join(part for part in (values["city"], values["state"], values["postal_code"]) if part)
    country = "" if values["country"] in ("", "US") else values["country"]
    return [line for line in (values["full_name"], values["company"], values["address1"], values["address2"],
                              last_line, country) if line]


def stylesheet_css(layout):
    """Mobul's rules for a size: the page, each side's canvas and the address block (`!important`, given to
    WeasyPrint as a user stylesheet, so no rule of the template outranks them)."""
    trim = f"{layout.trim_width}in {layout.trim_height}in"
    locked = "margin: 0 !important; padding: 0 !important; border: 0 !important; transform: none !important;"
    shown = "display: block !important; visibility: visible !important; opacity: 1 !important;"
    return f"""
@page {{ size: {trim} !important; bleed: {BLEED}in !important; marks: none !important; margin: 0 !important; }}
html, body {{ {locked} {shown} }}
.mobul-side {{ {locked} {shown} position: relative !important; float: none !important;
  width: {layout.trim_width}in !important; height: {layout.trim_height}in !important; overflow: visible !important;
  break-inside: avoid !important; }}
.mobul-side + .mobul-side {{ break-before: page !important; }}
.mobul-canvas {{ {locked} {shown} position: absolute !important; left: -{BLEED}in !important;
  top: -{BLEED}in !important; width: {layout.page_width}in !important; height: {layout.page_height}in !important;
  overflow: hidden !important; }}
.mobul-art {{ {locked} {shown} position: absolute !important; left: 0 !important; top: 0 !important;
  width: 100% !important; height: 100% !important; z-index: 0 !important; }}
.mobul-ink-free {{ {locked} {shown} position: absolute !important; {_important(layout.ink_free.css())}
  z-index: 1 !important; background: white !important; overflow: hidden !important; }}
.mobul-address {{ {locked} {shown} position: absolute !important;
  {_important(layout.address_block.css(origin=layout.ink_free))} overflow: hidden !important; }}
.mobul-address, .mobul-address div {{ font: {_ADDRESS_FONT} !important; color: black !important;
  text-transform: uppercase !important; text-align: left !important; letter-spacing: normal !important;
  word-spacing: normal !important; white-space: normal !important; overflow-wrap: anywhere !important;
  background: none !important; }}
.mobul-address div {{ {locked} {shown} position: static !important; float: none !important; }}
.mobul-qr {{ width: 1in; height: 1in; }}
"""


def _important(declarations):
    return declarations.replace(";", " !important;")


@dataclass
class RenderedBatch:
    """A laid-out batch: `document` has two pages per piece (front, back), in the order of `recipients`."""

    recipients: list
    values: list
    sides: list
    document: object
    refused: dict

    def write_pdf(self, target=None):
        return self.document.write_pdf(target)


class MailPieceRenderer:
    """Renders a campaign's pieces; build one per campaign and render every batch with it."""

    def __init__(self, campaign):
        template = campaign.template
        if template is None:
            raise TemplateError("The campaign has no template to render.", field="template")
        self.campaign_name = campaign.name
        self.client_id = campaign.client_id
        self.layout = LAYOUTS[template.size]
        self.sides = {Side.FRONT: SideTemplate.parse(template.front_html, Side.FRONT),
                      Side.BACK: SideTemplate.parse(template.back_html, Side.BACK)}
        self.uses_qr = any(QR_FIELD in side.fields for side in self.sides.values())
        self.font_config = FontConfiguration()
        self.stylesheet = CSS(string=stylesheet_css(self.layout), font_config=self.font_config)
        # Each in an element of its own (an @import counts only at the start of its stylesheet); "<\/" is "</" to
        # CSS, and cannot end the <style> element the styles go back into.
        self.styles = "".join("<style>" + style.replace("</", "<\\/") + "</style>"
                              for side in self.sides.values() for style in side.styles)
        self._assets = {}

    def merge_values(self, recipient):
        return merge_values(recipient, campaign_name=self.campaign_name)

    def sides_html(self, values):
        """{side: the side's section} for a recipient's merge values."""
        escaped = {name: html.escape(value) for name, value in values.items()}
        if self.uses_qr:
            escaped[QR_FIELD] = qr_code_svg(values["qr_url"])
        return {side: self._section(side, template.merge(escaped), values)
                for side, template in self.sides.items()}

    def _section(self, side, content, values):
        address = ""
        if side == self.layout.address_side:
            lines = "".join(f"<div>{html.escape(line)}</div>" for line in address_lines(values))
            address = f'<div class="mobul-ink-free"><div class="mobul-address">{lines}</div></div>'
        return (f'<section class="mobul-side mobul-{side}"><div class="mobul-canvas"><div class="mobul-art">'
                f"{content}</div>{address}</div></section>")

    def document_html(self, sides):
        body = "".join(piece[Side.FRONT] + piece[Side.BACK] for piece in sides)
        return (f'<!DOCTYPE html><html><head><meta charset="utf-8">{self.styles}</head>'
                f"<body>{body}</body></html>")

    def render(self, recipients):
        """Lays out the pieces of `recipients` (a list) as one document."""
        values = [self.merge_values(recipient) for recipient in recipients]
        sides = [self.sides_html(piece_values) for piece_values in values]
        fetcher = PieceFetcher(self.client_id, self._assets)
        document = HTML(string=self.document_html(sides), url_fetcher=fetcher).render(
            font_config=self.font_config, stylesheets=[self.stylesheet])
        if len(document.pages) != 2 * len(recipients):
            raise TemplateError(f"{len(recipients)} pieces rendered as {len(document.pages)} pages, not two each.")
        return RenderedBatch(recipients=list(recipients), values=values, sides=sides, document=document,
                             refused=fetcher.refused)

    def write_pdf(self, recipients, target=None, *, inspect=None):
        """One PDF of the pieces, front then back of each, in order: bytes, or written to `target` (a path or a
        binary file object) when given. Rendered DOCUMENT_PIECES at a time, so memory stays flat however many;
        `inspect(batch, pdf)`, when given, sees each document and its PDF (bytes) as it is rendered."""
        recipients = list(recipients)
        if len(recipients) <= DOCUMENT_PIECES:
            batch = self.render(recipients)
            if inspect is None:
                return batch.write_pdf(target)
            data = batch.write_pdf()
            inspect(batch, data)
            return _written(data, target)
        joined = pypdfium2.PdfDocument.new()
        try:
            for start in range(0, len(recipients), DOCUMENT_PIECES):
                part = pypdfium2.PdfDocument(self.write_pdf(recipients[start:start + DOCUMENT_PIECES], inspect=inspect))
                joined.import_pages(part)
                part.close()
            if target is not None:
                joined.save(target)
                return None
            buffer = io.BytesIO()
            joined.save(buffer)
            return buffer.getvalue()
        finally:
            joined.close()


def _written(data, target):
    if target is None:
        return data
    if hasattr(target, "write"):
        target.write(data)
    else:
        Path(target).write_bytes(data)
    return None


def page_index(piece_index, side):
    """The page of a batch's PDF that holds this side of its `piece_index`th piece."""
    return 2 * piece_index + (0 if side == Side.FRONT else 1)


def thumbnails(pdf, pages, *, width_px=600):
    """PNG images (bytes), `width_px` wide, of the given pages (indexes) of a PDF (bytes, a path or a file)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        images = []
        for index in pages:
            page = document[index]
            bitmap = page.render(scale=width_px / page.get_width())
            buffer = io.BytesIO()
            bitmap.to_pil().save(buffer, format="PNG", optimize=True)
            images.append(buffer.getvalue())
        return images
    finally:
        document.close()
