import pytest
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from campaigns.models import MailTemplate
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/templates/"


@pytest.fixture
def template(tenant_a):
    return MailTemplateFactory(client=tenant_a.client, name="Spring card")


def _get(client, template, **headers):
    # The cache is invalidated on commit; run those hooks as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.get(f"{TEMPLATES}{template.pk}/", headers=headers)


def test_template_read_has_cache_headers_and_an_etag(key_client, template):
    response = _get(key_client, template)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300, s-maxage=300"
    assert response["ETag"].startswith('"') and len(response["ETag"]) > 10
    assert "Authorization" in response["Vary"]
    assert response.json()["merge_fields"] == ["address1", "first_name", "purl"]


def test_second_read_comes_from_redis_without_touching_the_template_table(key_client, template):
    _get(key_client, template)
    assert cache.get(MailTemplate.cache_key(template.pk)) is not None
    with CaptureQueriesContext(connection) as queries:
        response = _get(key_client, template)
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if '"templates"' in q["sql"]]


def test_if_none_match_gets_a_304(key_client, template):
    etag = _get(key_client, template)["ETag"]
    response = _get(key_client, template, **{"If-None-Match": etag})
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


def test_an_api_change_invalidates_at_once(key_client, template):
    etag = _get(key_client, template)["ETag"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert key_client.patch(f"{TEMPLATES}{template.pk}/", {"name": "Summer card"}).status_code == 200
    response = _get(key_client, template, **{"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["name"] == "Summer card"
    assert response["ETag"] != etag


def test_an_admin_change_invalidates_at_once(staff_client, key_client, template):
    _get(key_client, template)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = staff_client.post(f"/admin/campaigns/mailtemplate/{template.pk}/change/", {
            "client": template.client_id, "name": "Edited in admin", "size": template.size,
            "front_html": template.front_html, "back_html": "",
        })
    assert response.status_code == 302
    assert _get(key_client, template).json()["name"] == "Edited in admin"


def test_a_cached_template_is_still_a_404_for_another_tenant(api_client, key_client, template, tenant_b):
    assert _get(key_client, template).status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    response = _get(api_client, template)
    assert response.status_code == 404
    assert "Spring card" not in response.content.decode()
    assert _get(api_client, MailTemplate(pk=999999)).status_code == 404


def test_unknown_merge_fields_are_listed_and_templates_in_use_cannot_be_deleted(key_client, tenant_a, template):
    created = key_client.post(TEMPLATES, {"name": "Card", "size": "4x6",
                                          "front_html": "{{ first_name }} {{tier}} {{ purl }}"})
    assert created.status_code == 201
    assert created.json()["merge_fields"] == ["first_name", "purl", "tier"]
    CampaignFactory(client=tenant_a.client, template=template)
    response = key_client.delete(f"{TEMPLATES}{template.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "template_in_use"
    assert key_client.delete(f"{TEMPLATES}{created.json()['id']}/").status_code == 204


def test_a_cache_failing_after_commit_does_not_undo_a_saved_change(key_client, template, monkeypatch):
    calls = []

    def delete_failing_after_commit(key, *args, **kwargs):
        calls.append(key)
        if len(calls) > 1:
            raise ConnectionError("the cache went away after commit")
    monkeypatch.setattr(cache, "delete", delete_failing_after_commit)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = key_client.patch(f"{TEMPLATES}{template.pk}/", {"name": "Summer card"})
    assert response.status_code == 200 and len(calls) == 2
    template.refresh_from_db()
    assert template.name == "Summer card"
