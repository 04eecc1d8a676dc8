"""Every admin page a staff member can open renders (no 500s), with data of two tenants present."""

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from campaigns.models import Recipient
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory, csv_bytes, person
from mailpieces.models import Proof
from mailpieces.tests.factories import ready_proof

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(staff_client, tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        campaign = CampaignFactory(client=tenant.client, template=MailTemplateFactory(client=tenant.client))
        create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                         city="Boston", state="MA", postal_code="02108", phone="617-555-0134")
        ready_proof(campaign, findings=[{"position": 1, "recipient_id": 1, "side": "back",
                                         "kind": "address_overflow", "message": "The address does not fit."}])
    return staff_client


def _admin_models():
    return [model for model in admin.site._registry if model._meta.app_label not in {"auth"}]


@pytest.mark.parametrize("model", _admin_models(), ids=lambda model: model._meta.label)
def test_changelist_add_and_change_pages_render(staff_client, platform_admin, rf, model):
    info = (model._meta.app_label, model._meta.model_name)
    assert staff_client.get(reverse("admin:%s_%s_changelist" % info)).status_code == 200
    assert staff_client.get(reverse("admin:%s_%s_changelist" % info), {"q": "lee"}).status_code == 200
    model_admin = admin.site._registry[model]
    request = rf.get("/admin/")
    request.user = platform_admin
    if model_admin.has_add_permission(request):
        assert staff_client.get(reverse("admin:%s_%s_add" % info)).status_code == 200
    instance = model_admin.get_queryset(request).first()
    if instance is not None:
        assert staff_client.get(reverse("admin:%s_%s_change" % info, args=[instance.pk])).status_code == 200


def test_recipients_are_found_by_phone_in_any_format_and_by_code(staff_client):
    url = reverse("admin:campaigns_recipient_changelist")
    assert staff_client.get(url, {"q": "+1 (617) 555-0134"}).context["cl"].result_count == 2
    code = Recipient.objects.first().short_code
    response = staff_client.get(url, {"q": f"{code[:5].lower()}-{code[5:]}"})
    assert response.context["cl"].result_count == 1


def test_staff_upload_an_import_in_the_admin(staff_client, tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = staff_client.post(reverse("admin:campaigns_importjob_add"), {
            "campaign": campaign.pk, "on_error": "reject",
            "upload": SimpleUploadedFile("list.csv", csv_bytes([person(1), person(2)])),
        })
    assert response.status_code == 302
    assert campaign.recipients.count() == 2

    bad = staff_client.post(reverse("admin:campaigns_importjob_add"), {
        "campaign": campaign.pk, "on_error": "reject", "upload": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"),
    })
    assert bad.status_code == 200
    assert "Missing required column" in bad.content.decode()


def test_proofs_are_read_only_and_listed_on_their_campaign(staff_client):
    proof = Proof.objects.first()
    page = staff_client.get(reverse("admin:mailpieces_proof_change", args=[proof.pk])).content.decode()
    assert "piece 1, back: The address does not fit." in page and 'name="_save"' not in page
    campaign = staff_client.get(reverse("admin:campaigns_campaign_change", args=[proof.campaign_id])).content.decode()
    assert reverse("admin:mailpieces_proof_change", args=[proof.pk]) in campaign
