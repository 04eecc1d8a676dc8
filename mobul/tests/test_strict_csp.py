"""Readiness for a strict Content-Security-Policy (default-src 'self', no inline script or style): no template
of the project carries inline code, and the public pages render without any.

Every template directory Django searches that lies in this project is scanned, so a new app's templates are
covered the day it is added. Third-party templates (the admin, the API docs page) are not ours to change.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines
from django.test import RequestFactory
from django.utils import timezone

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]
PROJECT = Path(settings.BASE_DIR).resolve()


def project_template_dirs():
    dirs = []
    for directory in engines["django"].template_dirs:
        directory = Path(directory).resolve()
        if directory.is_relative_to(PROJECT) and not {".venv", "site-packages"} & set(directory.parts):
            dirs.append(directory)
    return dirs


PROJECT_TEMPLATES = sorted({path for directory in project_template_dirs() for path in directory.rglob("*.html")})


def inline_code_in(source):
    return [what for pattern, what in INLINE if pattern.search(source)]


def test_the_scan_reaches_every_app_and_the_pages_a_visitor_sees():
    scanned = {str(path.relative_to(PROJECT)) for path in PROJECT_TEMPLATES}
    for expected in ("templates/public_base.html", "templates/404.html", "templates/500.html",
                     "campaigns/templates/campaigns/landing.html", "dashboard/templates/dashboard/agent/call.html",
                     "dashboard/templates/dashboard/base.html", "dashboard/templates/dashboard/settings/team.html"):
        assert expected in scanned
    # Nothing slips past: every HTML file kept in the repository is among them.
    skipped = {".git", ".venv", "staticfiles", "media", "test-artifacts", "node_modules", "__pycache__"}
    in_repository = set()
    for root, dirs, files in os.walk(PROJECT):
        dirs[:] = [name for name in dirs if name not in skipped]
        in_repository |= {str((Path(root) / name).relative_to(PROJECT)) for name in files if name.endswith(".html")}
    assert in_repository <= scanned, in_repository - scanned


def test_the_patterns_catch_what_a_strict_csp_refuses():
    for snippet in ('<script>go()</script>', '<button onclick="go()">', '<p style="color:red">', "<style>p{}</style>",
                    '<a href="javascript:go()">', "<SCRIPT type=module>"):
        assert inline_code_in(snippet), snippet
    for snippet in ('<script src="/static/app.js" defer></script>', '<link rel="stylesheet" href="/s.css">',
                    '<p class="style-note" data-onload="x">'):
        assert not inline_code_in(snippet), snippet


@pytest.mark.parametrize("path", PROJECT_TEMPLATES, ids=lambda path: str(path.relative_to(PROJECT)))
def test_project_templates_need_nothing_a_strict_csp_forbids(path):
    assert not inline_code_in(path.read_text()), path


def test_public_and_error_pages_render_without_inline_code(client, tenant_a):
    from campaigns.choices import CampaignStatus
    from campaigns.services import create_recipient
    from campaigns.tests.factories import CampaignFactory
    from mobul.urls import handler500

    campaign = CampaignFactory(client=tenant_a.client, offer="A free kit", mail_date=timezone.localdate())
    recipient = create_recipient(campaign=campaign, first_name="Ann", last_name="Lee", address1="1 Main St",
                                 city="Boston", state="MA", postal_code="02108")
    campaign.status = CampaignStatus.ACTIVE
    campaign.save()
    pages = {
        "landing": client.get(f"/r/{recipient.redemption_token}"),
        "enter code": client.get("/r/"),
        "bad code": client.post("/r/", {"code": "nope"}),
        "unknown link": client.get("/r/not-a-token"),
        "404": client.get("/no-such-page/"),
        "500": handler500(RequestFactory().get("/app/")),
    }
    assert (pages["404"].status_code, pages["500"].status_code) == (404, 500)
    assert "Something went wrong" in pages["500"].content.decode()
    for name, response in pages.items():
        page = response.content.decode()
        assert "/static/mobul/public.css" in page, name
        assert not inline_code_in(page), name
