"""The import's column matching in a real browser (Chromium, strict CSP): a file whose address column has a name
Mobul does not know is matched on screen, refused while a required field is missing, then imported."""

from axe_playwright_python.sync_playwright import Axe

from campaigns.models import ImportJob
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, csv_bytes

from .test_e2e import browser_page, pytestmark, shoot, sign_in  # noqa: F401 (the fixture and the skip)

SEVERE = ("critical", "serious")
HEADER = ("First Name", "Last Name", "Mailing Address", "City", "Zip", "Favourite colour")


def severe_violations(page, within="main"):
    """axe-core's critical and serious findings in `within` (the shared layout and styles are audited apart)."""
    results = Axe().run(page, context={"include": [[within]]})
    return [(rule["id"], [node["target"] for node in rule["nodes"]])
            for rule in results.response["violations"] if rule["impact"] in SEVERE]


def test_match_an_unknown_header_to_address_line_1_and_import(browser_page, tenant_a):  # noqa: F811
    page = browser_page
    campaign = CampaignFactory(client=tenant_a.client, name="Mapped import")
    rows = [("Ann", "Lee", "1 Main St", "Springfield", "62701", "teal"),
            ("Bo", "Ray", "", "Springfield", "62702", "red")]
    sign_in(page, tenant_a.admin)
    page.goto(f"/app/campaigns/{campaign.pk}/import/")
    page.get_by_label("CSV file").set_input_files(
        {"name": "crm.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows, header=HEADER)})
    page.get_by_label("Import the valid rows, report the others").check()
    page.get_by_role("button", name="Upload and match columns").click()
    page.wait_for_url("**/app/imports/staged/*/")

    address = page.get_by_label("Mailing Address")
    assert address.evaluate("select => select.value") == "custom"
    assert page.get_by_label("Zip").evaluate("select => select.value") == "postal_code"
    page.get_by_role("button", name="Import", exact=True).click()
    assert "Missing required column(s): address1." in page.get_by_role("alert").first.inner_text()
    assert not ImportJob.objects.filter(original_filename="crm.csv").exists()

    assert severe_violations(page) == []
    page.get_by_label("Mailing Address").select_option(label="Address line 1")
    shoot(page, "17-import-mapping")
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url("**/app/imports/*/")
    page.locator('#import[data-finished="true"]').wait_for()
    result = page.locator(".import-result")
    assert "Import finished" in result.inner_text()
    errors = page.locator("#import-errors tbody tr")
    assert errors.count() == 1 and errors.first.inner_text().split("\t") == ["3", "address1", "required"]
    shoot(page, "18-import-first-errors")
    # The result's figures above it are the shared stat boxes, restyled with the layout.
    assert severe_violations(page, "#import-errors") == []
    ann = campaign.recipients.get()
    assert (ann.first_name, ann.address1, ann.custom_fields) == ("Ann", "1 Main St", {"favourite_colour": "teal"})


def test_the_recipient_list_and_its_pages_pass_the_audit(browser_page, tenant_a):  # noqa: F811
    page = browser_page
    campaign = CampaignFactory(client=tenant_a.client, name="Listed")
    for n in range(3):
        create_recipient(campaign=campaign, first_name=f"Ann{n}", last_name="Lee", address1=f"{n} Main St",
                         city="Springfield", postal_code="62701", phone=f"(217) 555-010{n}")
    sign_in(page, tenant_a.member)
    page.goto(f"/app/campaigns/{campaign.pk}/")
    page.get_by_role("link", name="Recipients", exact=True).last.click()
    page.get_by_label("Order", exact=True).select_option(label="Name, Z to A")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#recipients tbody td:first-child").all_inner_texts() == ["Ann2 Lee", "Ann1 Lee", "Ann0 Lee"]
    assert page.locator("#recipients tbody td:nth-child(3)").first.inner_text() == "(217) 555-0102"
    assert severe_violations(page) == []
    shoot(page, "19-campaign-recipients")
    page.goto(f"/app/campaigns/{campaign.pk}/?from=2026-11-30&to=2026-11-01")
    assert "The end of the period is before its start." in page.get_by_role("alert").first.inner_text()
    assert severe_violations(page) == []
