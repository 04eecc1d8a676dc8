"""The geometry of every mail size, as data: trim, bleed, safe zone and the areas the template may not ink.

All lengths are inches; rectangles are measured from the top-left corner of the trim (the finished piece), x to
the right, y down. The rendered page is the trim plus the bleed on every side (a template's canvas, the side's
`.mobul-canvas`, starts at the bleed's top-left corner, the convention of Lob's and PostGrid's templates).

Sources of the reserved areas:
- postcards: Lob's postcard spec (help.lob.com, "Mail piece design specs / Postcards"): an ink-free area of
  4 × 2.375 in (3.2835 × 2.375 in on 4×6) in the bottom-right corner of the address side, 0.275 in from the right
  and 0.25 in from the bottom edge of the bleed. It holds the postage indicia (top right, where USPS DMM 604
  wants postage), the delivery address below it, and the Intelligent Mail barcode clear zone (USPS DMM 202.5:
  the bottom 0.625 in) under the address.
- letter (8.5 × 11 in, tri-folded into a #10 double-window envelope): the recipient window of the first page as
  PostalMethods' developer guide gives it, 3.5 × 0.875 in whose top-left corner is 0.5 in from the left and
  2.042 in from the top of the sheet: the address shows through the window however the sheet shifts. Postage
  goes on the envelope, so a letter page has no indicia area.
"""

from dataclasses import dataclass

from campaigns.choices import MailSize

from .choices import Side

BLEED = 0.125
# A guillotine cut drifts by up to about 1/16 in either way: text and QR codes kept 1/8 in inside the trim are
# never cut into, whatever the drift.
SAFE_MARGIN = 0.125
CSS_PX_PER_INCH = 96
POINTS_PER_INCH = 72
# Measurements read back from the layout are floats: a box exactly on an edge must not count as over it.
TOLERANCE = 0.01

_INK_FREE_HEIGHT = 2.375
_INK_FREE_FROM_TRIM_RIGHT = 0.275 - BLEED
_INK_FREE_FROM_TRIM_BOTTOM = 0.25 - BLEED
_INDICIA_WIDTH, _INDICIA_HEIGHT = 1.0, 0.8
_BARCODE_CLEAR_ZONE_HEIGHT = 0.625
_ADDRESS_INSET = 0.2


@dataclass(frozen=True)
class Rect:
    left: float
    top: float
    width: float
    height: float

    @property
    def right(self):
        return self.left + self.width

    @property
    def bottom(self):
        return self.top + self.height

    def contains(self, other):
        return (other.left >= self.left - TOLERANCE and other.top >= self.top - TOLERANCE
                and other.right <= self.right + TOLERANCE and other.bottom <= self.bottom + TOLERANCE)

    def overlaps(self, other):
        return (other.left < self.right - TOLERANCE and other.right > self.left + TOLERANCE
                and other.top < self.bottom - TOLERANCE and other.bottom > self.top + TOLERANCE)

    def css(self, origin=None):
        """`left/top/width/height` of this rectangle, positioned from `origin` (the canvas if none)."""
        left, top = (self.left + BLEED, self.top + BLEED) if origin is None else (
            self.left - origin.left, self.top - origin.top)
        return f"left: {left:.4f}in; top: {top:.4f}in; width: {self.width:.4f}in; height: {self.height:.4f}in;"

    @classmethod
    def from_css_px(cls, x, y, width, height):
        """A rectangle of WeasyPrint's layout (CSS px from the trim's top-left corner), in inches."""
        return cls(x / CSS_PX_PER_INCH, y / CSS_PX_PER_INCH, width / CSS_PX_PER_INCH, height / CSS_PX_PER_INCH)

    def describe(self):
        return f"{self.width:.2f} × {self.height:.2f} in at ({self.left:.2f}, {self.top:.2f}) in"


@dataclass(frozen=True)
class MailLayout:
    size: str
    trim_width: float
    trim_height: float
    address_side: str
    # Nothing of the template may be inked here; Mobul prints the address (and the vendor the indicia) in it.
    ink_free: Rect
    address_block: Rect
    indicia: Rect | None

    @property
    def page_width(self):
        return self.trim_width + 2 * BLEED

    @property
    def page_height(self):
        return self.trim_height + 2 * BLEED

    @property
    def safe_zone(self):
        return Rect(SAFE_MARGIN, SAFE_MARGIN, self.trim_width - 2 * SAFE_MARGIN, self.trim_height - 2 * SAFE_MARGIN)

    @property
    def reserved(self):
        """The areas a finding names when the template's content lands on them."""
        areas = {"address block": self.address_block}
        if self.indicia:
            areas["postage indicia area"] = self.indicia
        # Last: it holds the other two, and a finding names the first area a box is on.
        areas["ink-free area"] = self.ink_free
        return areas


def _postcard(size, width, height, ink_free_width):
    ink_free = Rect(width - _INK_FREE_FROM_TRIM_RIGHT - ink_free_width,
                    height - _INK_FREE_FROM_TRIM_BOTTOM - _INK_FREE_HEIGHT, ink_free_width, _INK_FREE_HEIGHT)
    indicia = Rect(ink_free.right - _INDICIA_WIDTH, ink_free.top, _INDICIA_WIDTH, _INDICIA_HEIGHT)
    address = Rect(ink_free.left + _ADDRESS_INSET, indicia.bottom, ink_free.width - 2 * _ADDRESS_INSET,
                   ink_free.height - _INDICIA_HEIGHT - _BARCODE_CLEAR_ZONE_HEIGHT)
    return MailLayout(size=size, trim_width=width, trim_height=height, address_side=Side.BACK, ink_free=ink_free,
                      address_block=address, indicia=indicia)


def _letter():
    window = Rect(0.5, 2.042, 3.5, 0.875)
    return MailLayout(size=MailSize.LETTER, trim_width=8.5, trim_height=11, address_side=Side.FRONT,
                      ink_free=window, address_block=window, indicia=None)


LAYOUTS = {
    MailSize.POSTCARD_4X6: _postcard(MailSize.POSTCARD_4X6, 6, 4, ink_free_width=3.2835),
    MailSize.POSTCARD_6X9: _postcard(MailSize.POSTCARD_6X9, 9, 6, ink_free_width=4),
    MailSize.POSTCARD_6X11: _postcard(MailSize.POSTCARD_6X11, 11, 6, ink_free_width=4),
    MailSize.LETTER: _letter(),
}
