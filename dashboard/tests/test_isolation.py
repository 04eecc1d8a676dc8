"""Tenant isolation across the whole dashboard: every URL pattern, walked from the URL conf itself."""

import pytest
from django.urls import URLResolver, get_resolver, reverse

ALL_METHODS = ("get", "post")


def dashboard_patterns():
    """(name, kwarg names) of every pattern under the `dashboard` namespace, read from the URL conf."""
    resolvers = [entry for entry in get_resolver().url_patterns
                 if isinstance(entry, URLResolver) and entry.namespace == "dashboard"]
    assert len(resolvers) == 1, "the dashboard is included once, under its namespace"
    patterns = [(pattern.name, sorted(pattern.pattern.converters)) for pattern in resolvers[0].url_patterns]
    assert len(patterns) >= 20
    return patterns


def url_for(name, kwarg_names, objects):
    unknown = set(kwarg_names) - set(objects)
    assert not unknown, f"dashboard:{name} takes {unknown}: add that kind of object to World.objects_by_url_kwarg"
    return reverse(f"dashboard:{name}", kwargs={kwarg: objects[kwarg].pk for kwarg in kwarg_names})


@pytest.mark.parametrize("who", ["admin", "member", "agent", "agency_admin"])
def test_every_object_url_is_a_404_for_another_tenants_object(signed_in, world_a, world_b, agency_admin_a, who):
    user = agency_admin_a if who == "agency_admin" else getattr(world_a.tenant, who)
    client = signed_in(user)
    missing = {kwarg: type("Missing", (), {"pk": 987654321})() for kwarg in world_b.objects_by_url_kwarg()}
    checked = 0
    for name, kwarg_names in dashboard_patterns():
        if not kwarg_names:
            continue
        url = url_for(name, kwarg_names, world_b.objects_by_url_kwarg())
        answers = {method: getattr(client, method)(url).status_code for method in ALL_METHODS}
        # A method the page does not take is refused before any lookup (405), exactly as for an id that
        # does not exist: the answer never tells whether tenant B's object is there.
        nowhere = url_for(name, kwarg_names, missing)
        assert answers == {method: getattr(client, method)(nowhere).status_code for method in ALL_METHODS}, name
        assert 404 in answers.values() and set(answers.values()) <= {404, 405}, f"{url} ({name}): {answers}"
        checked += 1
    assert checked >= 14


def test_the_same_urls_open_for_the_objects_own_tenant(signed_in, world_a, world_b):
    """The walk above can fail: tenant A's admin reaches every one of A's objects through the same patterns."""
    client = signed_in(world_a.tenant.admin)
    for name, kwarg_names in dashboard_patterns():
        if not kwarg_names:
            continue
        response = client.get(url_for(name, kwarg_names, world_a.objects_by_url_kwarg()))
        # POST-only actions answer 405 to a GET; downloads and recording links answer 200 or redirect.
        assert response.status_code in (200, 302, 405), f"{name}: {response.status_code}"


def test_pages_without_an_object_never_show_another_tenants_data(signed_in, world_a, world_b):
    client = signed_in(world_a.tenant.admin)
    secrets = [world_b.campaign.name, world_b.pool.name, world_b.tenant.client.name, world_b.recipients[0].last_name,
               world_b.tenant.api_key.prefix, world_b.tenant.admin.email, world_b.webhook_endpoint.url,
               world_b.webhook_message.webhook_id]
    for name, kwarg_names in dashboard_patterns():
        if kwarg_names:
            continue
        response = client.get(reverse(f"dashboard:{name}"))
        assert response.status_code in (200, 405), f"{name}: {response.status_code}"
        page = response.content.decode()
        for secret in secrets:
            assert secret not in page, f"dashboard:{name} shows tenant B's {secret!r}"
    # Searching by tenant B's exact identifiers finds nothing either.
    for query in (world_b.recipients[0].phone, world_b.recipients[0].email, world_b.recipients[0].short_code,
                  world_b.recipients[0].redemption_token):
        page = client.get(reverse("dashboard:recipient_search"), {"q": query}).content.decode()
        assert world_b.recipients[0].last_name not in page


def test_anonymous_visitors_are_sent_to_sign_in_from_every_page(client, world_a):
    for name, kwarg_names in dashboard_patterns():
        url = url_for(name, kwarg_names, world_a.objects_by_url_kwarg())
        for method in ALL_METHODS:
            response = getattr(client, method)(url)
            assert response.status_code == 302 and response["Location"].startswith("/app/login/?next="), (
                f"{method.upper()} {url}: {response.status_code}")


def test_switching_to_a_client_of_another_agency_is_ignored(signed_in, world_a, world_b, agency_admin_a):
    client = signed_in(agency_admin_a)
    for chosen in (world_b.tenant.client.pk, "not-a-number", ""):
        response = client.post(reverse("dashboard:switch_client"), {"client": chosen}, follow=True)
        assert "Choose one of your clients." in response.content.decode()
        page = client.get(reverse("dashboard:campaign_list")).content.decode()
        assert world_a.campaign.name in page and world_b.campaign.name not in page


JUNK = {
    "q": "x" * 500, "status": "exploded", "days": "-9", "before": "abc", "output": "exe", "campaign": "abc",
    "mail_date_from": "2026-13-45", "mail_date_to": "yesterday", "started_from": "soon", "started_to": "0",
    "caller": "!!", "matched": "maybe", "to": "exploded", "reason": "r" * 600, "client": "abc", "name": "",
    "scopes": "root", "on_error": "??", "cost": "1e999", "mail_date": "31/02/2026", "template": "abc",
    "gift_card_pool": "-1", "description": "\x00", "file": "not a file",
    "email": "not an email", "full_name": "\x00", "role": "platform_admin",
}


def test_no_dashboard_page_fails_on_nonsense_input(signed_in, world_a):
    """Every pattern, GET and POST, with garbage in every field any dashboard form reads: a clear answer, never
    a server error (the test client re-raises any exception a view lets escape)."""
    client = signed_in(world_a.tenant.admin)
    for name, kwarg_names in dashboard_patterns():
        url = url_for(name, kwarg_names, world_a.objects_by_url_kwarg())
        for method in ALL_METHODS:
            response = getattr(client, method)(url, JUNK)
            assert response.status_code < 500, f"{method.upper()} {url}: {response.status_code}"
