import pytest

from campaigns.choices import CampaignStatus
from campaigns.models import Recipient
from campaigns.tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

ANN = {"first_name": "Ann", "last_name": "Lee", "address1": "1  Main St", "city": "Boston", "state": "MA",
       "postal_code": "02108", "phone": "(617) 555-0134", "email": "ann@Example.com"}


@pytest.fixture
def campaign(tenant_a):
    return CampaignFactory(client=tenant_a.client)


def _url(campaign):
    return f"/api/v1/campaigns/{campaign.pk}/recipients/"


def test_create_one_normalises_like_an_import(key_client, campaign):
    response = key_client.post(_url(campaign), ANN)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+16175550134"
    assert body["email"] == "ann@example.com"
    assert body["address1"] == "1 Main St"
    assert body["purl"].endswith(f"/r/{body['redemption_token']}")
    assert len(body["short_code"]) == 11 and body["short_code"][5] == "-"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("phone", "12345", "not a valid phone number"),
    ("custom_fields", {"tier": {"nested": 1}}, "text values"),
    ("email", "ann@", "valid email"),
    ("address1", "", "blank"),
])
def test_bad_input_is_a_400_naming_the_field(key_client, campaign, field, value, message):
    response = key_client.post(_url(campaign), {**ANN, field: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert message in error["message"]


def test_the_same_person_twice_is_a_409(key_client, campaign):
    assert key_client.post(_url(campaign), ANN).status_code == 201
    assert key_client.post(_url(campaign), {**ANN, "first_name": "Anna"}).status_code == 201
    again = key_client.post(_url(campaign), {**ANN, "first_name": " ann ", "address1": "1 MAIN ST", "phone": ""})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_recipient"


def test_list_is_cursor_paginated_and_filterable(key_client, campaign):
    for n in range(7):
        key_client.post(_url(campaign), {**ANN, "first_name": f"Ann{n}", "last_name": "Lee" if n % 2 else "Park",
                                         "phone": f"617555{n:04d}"})
    page = key_client.get(_url(campaign) + "?page_size=3").json()
    assert len(page["results"]) == 3 and page["next"] and "cursor=" in page["next"]
    second = key_client.get(page["next"]).json()
    assert {r["id"] for r in page["results"]}.isdisjoint({r["id"] for r in second["results"]})
    assert "count" not in page
    assert len(key_client.get(_url(campaign) + "?last_name=le").json()["results"]) == 3
    by_phone = key_client.get(_url(campaign) + "?phone=%2B1 617 555 0004").json()["results"]
    assert [r["first_name"] for r in by_phone] == ["Ann4"]
    token = by_phone[0]["redemption_token"]
    assert len(key_client.get(_url(campaign) + f"?token={token}").json()["results"]) == 1
    code = by_phone[0]["short_code"].lower().replace("-", " ")
    assert len(key_client.get(_url(campaign) + f"?code={code}").json()["results"]) == 1


def test_soft_delete_hides_the_recipient_but_keeps_the_row(key_client, campaign):
    recipient_id = key_client.post(_url(campaign), ANN).json()["id"]
    assert key_client.delete(f"/api/v1/recipients/{recipient_id}/").status_code == 204
    assert key_client.get(f"/api/v1/recipients/{recipient_id}/").status_code == 404
    assert key_client.get(_url(campaign)).json()["results"] == []
    assert Recipient.all_objects.get(pk=recipient_id).deleted_at is not None


def test_recipients_cannot_change_after_approval(key_client, campaign):
    recipient_id = key_client.post(_url(campaign), ANN).json()["id"]
    campaign.status = CampaignStatus.APPROVED
    campaign.save()
    assert key_client.post(_url(campaign), {**ANN, "first_name": "Bo"}).status_code == 409
    assert key_client.delete(f"/api/v1/recipients/{recipient_id}/").status_code == 409


def test_another_tenant_sees_none_of_it(api_client, key_client, campaign, tenant_b):
    recipient_id = key_client.post(_url(campaign), ANN).json()["id"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert api_client.get(_url(campaign)).status_code == 404
    assert api_client.post(_url(campaign), {**ANN, "first_name": "Eve"}).status_code == 404
    assert api_client.get(f"/api/v1/recipients/{recipient_id}/").status_code == 404
    assert api_client.delete(f"/api/v1/recipients/{recipient_id}/").status_code == 404
    assert Recipient.objects.filter(pk=recipient_id).exists()


def test_agents_can_read_recipients_but_not_add_them(api_client, tenant_a, campaign):
    api_client.force_login(tenant_a.agent)
    assert api_client.get(_url(campaign)).status_code == 200
    assert api_client.post(_url(campaign), ANN).status_code == 403
