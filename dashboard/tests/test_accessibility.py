"""The accessibility audit: axe-core finds no critical or serious violation on any page a person opens.

The dashboard's pages are walked from its URL conf (a new page is audited without anyone listing it), the
admin's from its registry; POST-only actions are audited on the page they land on.
"""

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from campaigns.choices import ImportStatus
from campaigns.models import ImportJob
from mobul.tests.axe import blocking_violations

from .factories import make_active
from .test_e2e import PASSWORD, browser_page, pytestmark, sign_in  # noqa: F401  (the fixture)
from .test_isolation import dashboard_patterns, url_for

pytestmark = pytestmark  # browser tests: skipped with a clear reason without Chromium


def audit(page, url, findings):
    response = page.goto(url)
    assert response.status < 500, f"{url}: {response.status}"
    record(page, findings)


def record(page, findings):
    lines = blocking_violations(page)
    if lines:
        findings[page.url] = lines


def submit(page, url, data):
    """POSTs `data` to `url` from the page open now, as one of its forms would (CSRF token included), and waits
    for the page the answer lands on."""
    with page.expect_navigation():
        page.evaluate("""([url, data]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = url;
            const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
            for (const [name, value] of Object.entries({...data, csrfmiddlewaretoken: token})) {
                const field = document.createElement("input");
                field.type = "hidden";
                field.name = name;
                field.value = value;
                form.append(field);
            }
            document.body.append(form);
            form.submit();
        }""", [url, data])


def report(findings):
    return "\n".join(f"{url}:\n  " + "\n  ".join(lines) for url, lines in findings.items())


def is_page(answer):
    """A whole HTML page; downloads, JSON and the fragments a page swaps in are not (those are audited in it)."""
    return (answer.status == 200 and "text/html" in answer.headers.get("content-type", "")
            and answer.text().lstrip()[:15].lower() == "<!doctype html>")


def result_states(world):
    """What to POST to each action, in this order, for the page it lands on: every POST-only pattern, and the
    error state of the main forms. The last ones change who may do what, so they come last."""
    return {
        "campaign_create": {"name": ""},
        "campaign_edit": {"name": ""},
        "recipient_import": {},
        "campaign_transition": {"to": "proofed"},
        "proof_generate": {},
        "print_run_start": {},
        "pool_upload": {},
        "pool_assign": {"campaign": world.campaign.pk},
        "agent_call": {"action": "find", "query": "nobody"},
        "api_keys": {"name": "CRM sync", "scopes": "read"},
        "webhooks": {"url": "ftp://nowhere", "event_types": "recipient.visited"},
        "webhook_replay": {},
        "webhook_rotate": {},
        "team": {"email": "not an email"},
        "member_resend": {},
        "member_role": {"role": "call_center_agent"},
        "api_key_revoke": {},
        "member_remove": {},
        "switch_client": {"client": world.tenant.client.pk},
    }


def test_every_dashboard_page_and_the_page_each_action_lands_on(browser_page, world_a, world_b):
    page = browser_page
    sign_in(page, world_a.tenant.admin)
    findings, post_only, urls = {}, [], {}
    for name, kwarg_names in dashboard_patterns():
        urls[name] = url = url_for(name, kwarg_names, world_a.objects_by_url_kwarg())
        answer = page.request.get(url, max_redirects=0)
        if answer.status == 405:
            post_only.append(name)
        elif is_page(answer):
            audit(page, url, findings)
    # A running import's page, its bar moved by the polling script.
    running = ImportJob.objects.create(client=world_a.tenant.client, campaign=world_a.campaign,
                                       file=world_a.import_job.file.name, original_filename="people.csv",
                                       size_bytes=10, status=ImportStatus.RUNNING, rows_total=4, rows_done=2)
    page.goto(url_for("import_progress", ["import_id"], {"import_id": running}))
    page.locator('#import[data-polled="true"]').wait_for()
    record(page, findings)
    states = result_states(world_a)
    missing = set(post_only) - set(states)
    assert not missing, f"say in result_states() what to POST to {missing}, so the page it lands on is audited"
    for name, data in states.items():
        page.goto("/app/")
        submit(page, urls[name], data)
        record(page, findings)
    assert not findings, report(findings)


def test_the_purl_sign_in_and_error_pages(browser_page, world_a):
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
    # The states a recipient's answers lead to: a code not found, a claimed reward.
    page.goto("/r/")
    page.get_by_label("Your code").fill("ZZZZZ-ZZZZZ")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("alert").wait_for()
    record(page, findings)
    page.goto(f"/r/{world_a.recipients[0].redemption_token}")
    page.get_by_role("button", name="Claim my gift card").click()
    page.get_by_text("Here is your").wait_for()
    record(page, findings)
    assert not findings, report(findings)


def ours(model):
    path = Path(model._meta.app_config.path)
    return path.is_relative_to(settings.BASE_DIR) and ".venv" not in path.parts


def test_the_staff_admin(browser_page, platform_admin, world_a):
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
    # Every registered model: its list and its first record (opened from the list, which knows its URL, a
    # composite key's too); for our apps' models with no record yet, the form that adds one (the other apps'
    # forms are theirs).
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        audit(page, reverse("admin:%s_%s_changelist" % info), findings)
        record_link = page.locator("#result_list tbody th a").first
        if record_link.count():
            audit(page, record_link.get_attribute("href"), findings)
        elif ours(model) and page.request.get(reverse("admin:%s_%s_add" % info)).status == 200:
            audit(page, reverse("admin:%s_%s_add" % info), findings)
    # The staff pages we added beside the models'.
    for name in ("ops_monitoring", "ops_retention_run"):
        audit(page, reverse(f"admin:{name}"), findings)
    assert not findings, report(findings)
