import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import AuditAction
from accounts.models import AuditLog
from campaigns.choices import CampaignStatus
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns/"


def test_create_defaults_to_the_keys_client_and_is_audited(key_client, tenant_a):
    template = MailTemplateFactory(client=tenant_a.client)
    response = key_client.post(CAMPAIGNS, {"name": "Spring", "template": template.pk, "mail_date": "2030-03-01",
                                           "cost": "1250.00"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["client"] == tenant_a.client.pk
    assert body["status"] == "draft"
    assert body["allowed_transitions"] == ["cancelled", "proofed"]
    assert AuditLog.objects.filter(action=AuditAction.CREATE, object_id=str(body["id"]),
                                   api_key=tenant_a.api_key).exists()


def test_status_cannot_be_written_directly(key_client, tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    response = key_client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"status": "mailed", "name": "Renamed"})
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert (campaign.status, campaign.name) == (CampaignStatus.DRAFT, "Renamed")


def test_another_tenants_template_is_refused(key_client, tenant_b):
    foreign = MailTemplateFactory(client=tenant_b.client)
    response = key_client.post(CAMPAIGNS, {"name": "X", "template": foreign.pk})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "template"


def test_template_is_frozen_after_proof_approval(key_client, tenant_a):
    campaign = CampaignFactory(client=tenant_a.client, status=CampaignStatus.APPROVED,
                               template=MailTemplateFactory(client=tenant_a.client))
    other = MailTemplateFactory(client=tenant_a.client)
    response = key_client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"template": other.pk})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "campaign_locked", "field": "template",
        "message": "The template cannot change once the campaign is Approved.",
    }


def test_user_with_several_clients_must_choose_one(api_client, tenant_a, tenant_b, platform_admin):
    api_client.force_login(platform_admin)
    response = api_client.post(CAMPAIGNS, {"name": "Which client?"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "client"
    assert api_client.post(CAMPAIGNS, {"name": "Acme", "client": tenant_a.client.pk}).status_code == 201


def test_filters_by_status_and_mail_date_range(key_client, tenant_a):
    CampaignFactory(client=tenant_a.client, name="old", mail_date="2030-01-10", status=CampaignStatus.MAILED)
    CampaignFactory(client=tenant_a.client, name="new", mail_date="2030-02-10", status=CampaignStatus.MAILED)
    CampaignFactory(client=tenant_a.client, name="draft", mail_date="2030-02-11")
    names = lambda query: sorted(row["name"] for row in key_client.get(CAMPAIGNS + query).json()["results"])  # noqa: E731
    assert names("?status=mailed") == ["new", "old"]
    assert names("?mail_date_after=2030-02-01") == ["draft", "new"]
    assert names("?status=mailed&mail_date_before=2030-01-31") == ["old"]
    bad = key_client.get(CAMPAIGNS + "?status=flying")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"


def test_list_is_paginated_with_a_bounded_page_size_and_constant_queries(key_client, tenant_a):
    for index in range(5):
        CampaignFactory(client=tenant_a.client, template=MailTemplateFactory(client=tenant_a.client))
    key_client.get(CAMPAIGNS)  # the key's first use also records last_used_at
    with CaptureQueriesContext(connection) as few:
        key_client.get(CAMPAIGNS)
    for index in range(20):
        CampaignFactory(client=tenant_a.client, template=MailTemplateFactory(client=tenant_a.client))
    with CaptureQueriesContext(connection) as many:
        body = key_client.get(CAMPAIGNS + "?page_size=1000").json()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert body["count"] == 25 and len(body["results"]) == 25
    assert len(key_client.get(CAMPAIGNS + "?page_size=3").json()["results"]) == 3


def test_campaigns_are_never_deleted(key_client, tenant_a):
    campaign = CampaignFactory(client=tenant_a.client)
    assert key_client.delete(f"{CAMPAIGNS}{campaign.pk}/").status_code == 405


@pytest.mark.parametrize("method", ["get", "patch", "transition", "export", "recipients", "import"])
def test_another_tenants_campaign_is_a_404_for_every_action(key_client, tenant_b, method):
    campaign = CampaignFactory(client=tenant_b.client)
    base = f"{CAMPAIGNS}{campaign.pk}/"
    call = {
        "get": lambda: key_client.get(base),
        "patch": lambda: key_client.patch(base, {"name": "mine now"}),
        "transition": lambda: key_client.post(base + "transition/", {"to": "cancelled"}),
        "export": lambda: key_client.get(base + "export/"),
        "recipients": lambda: key_client.get(base + "recipients/"),
        "import": lambda: key_client.post(base + "recipients/import/", {}, format="multipart"),
    }[method]
    response = call()
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) != ("mine now", "cancelled")
    assert key_client.get(CAMPAIGNS).json()["results"] == []


def test_read_only_members_of_the_call_center_cannot_create_campaigns(api_client, tenant_a):
    api_client.force_login(tenant_a.agent)
    response = api_client.post(CAMPAIGNS, {"name": "Nope"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "client"
