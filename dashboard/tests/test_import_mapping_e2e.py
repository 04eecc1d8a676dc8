"""The import's column matching in a real browser (Chromium, strict CSP): a file whose address column has a name
Mobul does not know is matched on screen, refused while a required field is missing, then imported."""

from campaigns.models import ImportJob
from campaigns.tests.factories import CampaignFactory, csv_bytes

from .test_e2e import browser_page, pytestmark, shoot, sign_in  # noqa: F401 (the fixture and the skip)

HEADER = ("First Name", "Last Name", "Mailing Address", "City", "Zip", "Favourite colour")


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
    ann = campaign.recipients.get()
    assert (ann.first_name, ann.address1, ann.custom_fields) == ("Ann", "1 Main St", {"favourite_colour": "teal"})
