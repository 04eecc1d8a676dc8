"""The accessibility audit: axe-core finds no critical or serious violation on any page a person opens.

The dashboard's pages are walked from its URL conf (a new page is audited without anyone listing it), the
admin's from its registry; POST-only actions are audited on the page they land on.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from mobul.tests.axe import blocking_violations

from .factories import make_active
from .test_e2e import PASSWORD, browser_page, pytestmark, sign_in  # noqa: F401  (the fixture)
from .test_isolation import dashboard_patterns, url_for

pytestmark = pytestmark  # browser tests: skipped with a clear reason without Chromium


def audit(page, url, findings):
    response = page.goto(url)
    assert response.status < 500, f"{url}: {response.status}"
    lines = blocking_violations(page)
    if lines:
        findings[url] = lines


def report(findings):
    return "\n".join(f"{url}:\n  " + "\n  ".join(lines) for url, lines in findings.items())


def is_html(answer):
    return "text/html" in answer.headers.get("content-type", "") and "attachment" not in answer.headers.get(
        "content-disposition", "")


def test_every_dashboard_page(browser_page, world_a, world_b):
    page = browser_page
    sign_in(page, world_a.tenant.admin)
    findings, post_only = {}, []
    for name, kwarg_names in dashboard_patterns():
        url = url_for(name, kwarg_names, world_a.objects_by_url_kwarg())
        answer = page.request.get(url, max_redirects=0)
        if answer.status == 405:
            post_only.append(name)
        elif answer.status == 200 and is_html(answer):
            audit(page, url, findings)
    for url in ("/app/calls/agent/", f"/app/calls/agent/{world_a.call.pk}/"):
        audit(page, url, findings)
    print(post_only)
    assert not findings, report(findings)


def test_public_and_sign_in_pages(browser_page, world_a):
    page = browser_page
    findings = {}
    make_active(world_a.campaign)
    user = world_a.tenant.admin
    reset = reverse("password_reset_confirm", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                                      "token": default_token_generator.make_token(user)})
    for url in (f"/r/{world_a.recipients[0].redemption_token}", "/r/", "/r/no-such-token", "/no-such-page/",
                "/app/login/", "/app/password-reset/", "/app/password-reset/sent/", reset,
                "/app/password-reset/x/bad-token/", "/app/password-reset/done/", "/admin/login/"):
        audit(page, url, findings)
    assert not findings, report(findings)


def test_admin_pages(browser_page, platform_admin, world_a):
    platform_admin.is_staff = platform_admin.is_superuser = True
    platform_admin.save()
    page = browser_page
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(platform_admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    findings = {}
    audit(page, "/admin/", findings)
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        audit(page, reverse("admin:%s_%s_changelist" % info), findings)
        instance = model._default_manager.order_by("pk").first()
        if instance is not None:
            audit(page, reverse("admin:%s_%s_change" % info, args=[instance.pk]), findings)
    for name in ("ops_monitoring", "analytics_event_browser"):
        audit(page, reverse(f"admin:{name}"), findings)
    assert not findings, report(findings)
