"""The campaign page's print files: the "Render print files" button for approved campaigns (to those who may change
campaigns), the run's progress and its files downloaded through the tenant-scoped view; the staff action."""

import pypdfium2
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from mailpieces.choices import PrintRunStatus
from mailpieces.models import PrintRun
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db

BUTTON = "Render print files"


@pytest.fixture
def campaign(tenant_a):
    campaign = campaign_with(tenant_a.client)
    for n in range(3):
        add_recipient(campaign, n)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.APPROVED)
    return campaign


def page(client, campaign):
    return client.get(reverse("dashboard:campaign_detail", kwargs={"campaign_id": campaign.pk})).content.decode()


def start_url(campaign):
    return reverse("dashboard:print_run_start", kwargs={"campaign_id": campaign.pk})


def test_the_button_renders_the_campaign_and_the_page_links_its_files(
        client, tenant_a, campaign, django_capture_on_commit_callbacks):
    client.force_login(tenant_a.member)
    assert BUTTON in page(client, campaign)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(start_url(campaign))
    assert response.status_code == 302
    run = PrintRun.objects.get(campaign=campaign)
    assert run.status == PrintRunStatus.COMPLETED and run.created_by == tenant_a.member
    html = page(client, campaign)
    assert "3 of 3 pieces" in html and f"Run #{run.pk}" in html
    download = reverse("dashboard:print_run_download", kwargs={"print_run_id": run.pk})
    name = f"campaign-{campaign.pk}-run-{run.pk}-part-0001.pdf"
    assert f"{download}?file={name}" in html and f"campaign-{campaign.pk}-run-{run.pk}-manifest.csv" in html

    response = client.get(download, {"file": name})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert len(pypdfium2.PdfDocument(b"".join(response.streaming_content))) == 6
    assert client.get(download, {"file": "nothing.pdf"}).status_code == 404


def test_no_button_before_approval_nor_for_a_role_that_cannot_change_campaigns(client, tenant_a, campaign):
    client.force_login(tenant_a.agent)
    assert BUTTON not in page(client, campaign)
    assert client.post(start_url(campaign)).status_code == 403

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PROOFED)
    client.force_login(tenant_a.admin)
    assert BUTTON not in page(client, campaign)
    response = client.post(start_url(campaign), follow=True)
    assert any("only an approved campaign is rendered" in str(m) for m in get_messages(response.wsgi_request))
    assert not PrintRun.objects.exists()


def test_no_second_button_while_a_run_is_under_way(client, tenant_a, campaign):
    client.force_login(tenant_a.admin)
    client.post(start_url(campaign))  # its worker has not taken it yet
    html = page(client, campaign)
    assert BUTTON not in html and "Waiting for a worker" in html


def test_staff_render_print_files_from_the_campaign_admin(staff_client, campaign, tenant_a,
                                                          django_capture_on_commit_callbacks):
    draft = campaign_with(tenant_a.client, name="Draft one")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/admin/campaigns/campaign/", {
            "action": "render_print_files", "_selected_action": [campaign.pk, draft.pk]}, follow=True)
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    run = PrintRun.objects.get()
    assert run.campaign == campaign and run.status == PrintRunStatus.COMPLETED
    assert any(text.startswith(f"Print run(s) #{run.pk} started") for text in texts)
    assert any(text.startswith("Draft one: The campaign is draft") for text in texts)

    assert staff_client.get("/admin/mailpieces/printrun/").status_code == 200
    detail = staff_client.get(f"/admin/mailpieces/printrun/{run.pk}/change/")
    assert detail.status_code == 200 and "3 pieces" in detail.content.decode()
    assert staff_client.get("/admin/mailpieces/printrun/add/").status_code == 403
