import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailpieces.choices import FindingKind
from mailpieces.preflight import preflight
from mailpieces.render import MailPieceRenderer
from mailpieces.tests.factories import CLEAN_BACK, CLEAN_FRONT, add_recipient, campaign_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    """A local web server that records every request it gets (it must get none)."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def test_a_template_reaching_for_the_network_or_the_disk_fetches_nothing_and_is_told(tenant_a, server, tmp_path):
    base, requests = server
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for a mail piece")
    front = (f"<style>@import url({base}/import.css);</style>"
             + CLEAN_FRONT.replace("</style>", f".headline {{ background: url({base}/background.png); }}</style>"))
    back = (CLEAN_BACK + f'<link rel="stylesheet" href="{base}/link.css"><img src="{base}/img.png">'
            f'<img src="file://{secret}"><img src="ftp://127.0.0.1:{base.rsplit(":", 1)[1]}/x.png">'
            '<img src="{{ photo }}">')
    campaign = campaign_with(tenant_a.client, front=front, back=back)
    recipient = add_recipient(campaign, custom_fields={"photo": f"{base}/from-a-merge-value.png"})
    findings = preflight(MailPieceRenderer(campaign), [recipient])
    assert requests == []
    refused = {(finding.side, finding.message.split()[0]) for finding in findings
               if finding.kind == FindingKind.REMOTE_RESOURCE}
    assert refused == {("front", f"{base}/import.css"), ("front", f"{base}/background.png"),
                       ("back", f"{base}/link.css"), ("back", f"{base}/img.png"), ("back", f"file://{secret}"),
                       ("back", f"ftp://127.0.0.1:{base.rsplit(':', 1)[1]}/x.png"),
                       ("back", f"{base}/from-a-merge-value.png")}
    assert {finding.recipient_id for finding in findings} == {recipient.pk}
