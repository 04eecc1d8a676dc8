"""Security headers on every kind of page, and limits on what a request may carry."""

import re

import pytest

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)


@pytest.mark.parametrize("url", ["/app/login/", "/admin/login/", "/api/v1/docs/", "/api/v1/me/", "/health/"])
def test_every_response_carries_the_policy(client, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_api_docs_run_without_inline_script(client):
    page = client.get("/api/v1/docs/").content.decode()
    assert not INLINE_SCRIPT.search(page), "an inline <script> would be blocked by the policy"
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert scripts and all(src.startswith("/") for src in scripts), "every script from our own origin"


def test_an_oversized_json_body_is_a_clear_400(key_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = key_client.post("/api/v1/events/", {"events": [{"payload": {"x": "y" * 2000}}]}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
