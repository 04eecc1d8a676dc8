"""Staff changes through the admin are audited once each: by the domain service, or else from the admin's log."""

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from campaigns.models import MailTemplate
from campaigns.tests.factories import MailTemplateFactory
from giftcards.tests.factories import GiftCardPoolFactory

pytestmark = pytest.mark.django_db


def _rows(obj):
    return list(AuditLog.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk)).order_by("pk"))


def test_an_admin_change_is_audited_with_its_fields_actor_client_and_ip(staff_client, platform_admin, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client, name="Rewards")
    url = reverse("admin:giftcards_giftcardpool_change", args=[pool.pk])
    response = staff_client.post(url, {
        "client": tenant_a.client.pk, "name": "Spring rewards", "brand": pool.brand, "denomination": "25.00",
        "currency": "USD", "low_stock_threshold_percent": 10,
    }, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302, response.content.decode()[:2000]
    [row] = _rows(pool)
    assert (row.action, row.actor, row.client_id, row.ip) == ("update", platform_admin, tenant_a.client.pk,
                                                              "203.0.113.9")
    assert row.changes == {"fields": ["Name"]}
    assert row.request_id


def test_an_admin_delete_is_audited(staff_client, tenant_a):
    template = MailTemplateFactory(client=tenant_a.client)
    url = reverse("admin:campaigns_mailtemplate_delete", args=[template.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not MailTemplate.objects.filter(pk=template.pk).exists()
    [row] = AuditLog.objects.filter(object_type="campaigns.MailTemplate", object_id=str(template.pk))
    assert (row.action, row.client_id) == ("delete", tenant_a.client.pk)


def test_a_change_saved_through_a_service_is_audited_once(staff_client, tenant_a):
    template = MailTemplateFactory(client=tenant_a.client, name="Old")
    url = reverse("admin:campaigns_mailtemplate_change", args=[template.pk])
    response = staff_client.post(url, {
        "client": tenant_a.client.pk, "name": "New", "size": template.size, "front_html": template.front_html,
        "back_html": template.back_html,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    rows = _rows(template)
    assert len(rows) == 1 and rows[0].action == "update"
