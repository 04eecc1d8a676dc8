import pytest
import segno

from mailpieces.choices import FindingKind, Side
from mailpieces.preflight import preflight
from mailpieces.render import MailPieceRenderer
from mailpieces.tests.factories import CLEAN_BACK, CLEAN_FRONT, add_recipient, campaign_with, upload_asset

pytestmark = pytest.mark.django_db

ELSEWHERE_QR = segno.make("https://elsewhere.example/", error="m").png_data_uri(scale=20)
# On a 6×9 back, the ink-free area spans x 4.85–8.85 in and y 3.5–5.875 in of the trim (5.1 in from the canvas'
# top-left corner, 0.125 in further out), the indicia its top-right inch.
ON_CANVAS = "position: absolute; left: {left}in; top: {top}in; width: {width}in; font: 10pt 'DejaVu Sans';"
QR_SIZE = "width: 1.2in; height: 1.2in; }\n</style>"
# The middle half of CLEAN_FRONT's 1.2 in code, more than its error correction can restore.
COVERING_THE_QR_CENTRE = ('<div style="position: absolute; left: 0.925in; top: 2.925in; width: 0.6in; '
                          'height: 0.6in; background: white"></div>')


def _at(left, top, width=2, content="Over here"):
    return f'<div style="{ON_CANVAS.format(left=left, top=top, width=width)}">{content}</div>'


def _kinds(findings):
    return {(finding.side, finding.kind) for finding in findings}


def test_a_clean_template_yields_no_finding(tenant_a):
    campaign = campaign_with(tenant_a.client)
    recipients = [add_recipient(campaign, n) for n in range(3)]
    assert preflight(MailPieceRenderer(campaign), recipients) == []


@pytest.mark.parametrize("front, back, fields, expected", [
    pytest.param(CLEAN_FRONT.replace("{{ qr_code }}", ""), CLEAN_BACK, {}, {(Side.FRONT, FindingKind.QR_MISSING)},
                 id="qr_missing"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK + _at(0.6, 2, content=f'<img src="{ELSEWHERE_QR}" style="width: 1.2in">'),
                 {}, {(Side.BACK, FindingKind.QR_WRONG_URL)}, id="qr_wrong_url"),
    pytest.param(CLEAN_FRONT + COVERING_THE_QR_CENTRE, CLEAN_BACK, {}, {(Side.FRONT, FindingKind.QR_MISSING)},
                 id="qr_covered"),
    pytest.param(CLEAN_FRONT.replace(QR_SIZE, "width: 0.3in; height: 0.3in; }\n</style>"), CLEAN_BACK, {},
                 {(Side.FRONT, FindingKind.QR_MISSING)}, id="qr_too_small_to_print"),
    pytest.param(CLEAN_FRONT + _at(0.6, 3.2, content="Your tier: {{ tier }}"), CLEAN_BACK, {},
                 {(Side.FRONT, FindingKind.MERGE_FIELD_UNKNOWN)}, id="merge_field_unknown"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK, {"first_name": "", "company": "Acme"},
                 {(Side.FRONT, FindingKind.MERGE_FIELD_EMPTY)}, id="merge_field_empty"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK.replace("{{ full_name }}", "friend"),
                 {"first_name": "", "last_name": "", "company": ""}, {
                     (Side.FRONT, FindingKind.MERGE_FIELD_EMPTY), (Side.BACK, FindingKind.MERGE_FIELD_EMPTY)},
                 id="merge_field_empty_address_name"),
    pytest.param(CLEAN_FRONT + _at(0.05, 3.2, content="Near the edge"), CLEAN_BACK, {},
                 {(Side.FRONT, FindingKind.OUTSIDE_SAFE_ZONE)}, id="outside_safe_zone"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK + _at(5.5, 4.8), {}, {(Side.BACK, FindingKind.OVER_ADDRESS_AREA)},
                 id="text_over_address_block"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK + _at(8.2, 3.7, width=0.5, content='<img src="asset:logo-hd" '
                                                                              'style="width: 0.4in">'),
                 {}, {(Side.BACK, FindingKind.OVER_ADDRESS_AREA)}, id="image_over_indicia"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK, {"first_name": "Bartholomew Maximilian Alexander Christopher",
                                           "last_name": "Worthington-Smythe of Lancashire and Kent",
                                           "address2": "Building Q, care of the management office, floor 12"},
                 {(Side.BACK, FindingKind.ADDRESS_OVERFLOW)}, id="address_overflow"),
    pytest.param(CLEAN_FRONT + _at(3, 3.2, content='<img src="asset:logo-lo" style="width: 1in">'
                                                   '<img src="asset:logo-hd" style="width: 1in">'),
                 CLEAN_BACK, {}, {(Side.FRONT, FindingKind.LOW_RESOLUTION_IMAGE)}, id="low_resolution_image"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK + _at(0.6, 2, content='<div style="background: url(asset:logo-lo); '
                                                               'width: 1in; height: 1in"></div>'),
                 {}, {(Side.BACK, FindingKind.LOW_RESOLUTION_IMAGE)}, id="low_resolution_background"),
    pytest.param(CLEAN_FRONT, CLEAN_BACK + '<img src="https://cdn.example/logo.png">', {},
                 {(Side.BACK, FindingKind.REMOTE_RESOURCE)}, id="remote_resource"),
    pytest.param(CLEAN_FRONT + '<img src="asset:missing">', CLEAN_BACK, {},
                 {(Side.FRONT, FindingKind.UNKNOWN_ASSET)}, id="unknown_asset"),
])
def test_each_failure_is_found_on_its_piece_and_side(tenant_a, front, back, fields, expected):
    upload_asset(tenant_a.client, "logo-lo", 100, 100)
    upload_asset(tenant_a.client, "logo-hd", 600, 600)
    campaign = campaign_with(tenant_a.client, front=front, back=back)
    clean = add_recipient(campaign, 1, custom_fields={"tier": "gold"})
    failing = add_recipient(campaign, 2, **fields)
    findings = preflight(MailPieceRenderer(campaign), [clean, failing])
    assert _kinds(findings) == expected
    shared_by_every_piece = {kind for kind in FindingKind} - {
        FindingKind.MERGE_FIELD_UNKNOWN, FindingKind.MERGE_FIELD_EMPTY, FindingKind.ADDRESS_OVERFLOW}
    expected_pieces = {failing.pk} if not expected & {(side, kind) for side in Side for kind in
                                                     shared_by_every_piece} else {clean.pk, failing.pk}
    assert {finding.recipient_id for finding in findings} == expected_pieces
    assert all(finding.message for finding in findings)


@pytest.mark.parametrize("front, back", [
    pytest.param(CLEAN_FRONT.replace(QR_SIZE, "width: 0.8in; height: 0.8in; }\n</style>"), CLEAN_BACK,
                 id="smallest_allowed_size"),
    pytest.param(CLEAN_FRONT.replace("left: 0.5in; top: 2.5in;", "left: 7.2in; top: 4.45in;"), CLEAN_BACK,
                 id="bottom_right_corner"),
    pytest.param(CLEAN_FRONT.replace("{{ qr_code }}", ""), CLEAN_BACK + _at(0.6, 2, content="{{ qr_code }}"),
                 id="on_the_back"),
])
def test_a_code_that_prints_well_is_read_wherever_it_is(tenant_a, front, back):
    # Only the code's own area is read, at the fewest pixels per module that decode: every piece still scans.
    campaign = campaign_with(tenant_a.client, front=front, back=back)
    recipients = [add_recipient(campaign, n) for n in range(5)]
    assert preflight(MailPieceRenderer(campaign), recipients) == []


def test_findings_read_as_sentences(tenant_a):
    campaign = campaign_with(tenant_a.client, back=CLEAN_BACK + _at(5.5, 4.8, content="Hello there"))
    [finding] = preflight(MailPieceRenderer(campaign), [add_recipient(campaign)])
    assert finding.as_dict()["kind"] == FindingKind.OVER_ADDRESS_AREA
    assert "“Hello there” on the address block" in finding.message
