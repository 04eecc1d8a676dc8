"""https deliveries connect to the address checked against SSRF, yet TLS checks the certificate against the URL's
host name (not the IP): a real local TLS server with a certificate for `localhost`."""

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks import delivery


class Answer(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(self.headers["Host"].split(":")[0][:2].encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path, local_network):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    # OpenSSL checks validity on the real clock, the test session may run on a shifted one: a wide window.
    valid_from, valid_to = datetime.datetime(2020, 1, 1), datetime.datetime(2040, 1, 1)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(valid_from)
                   .not_valid_after(valid_to)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert_path
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_is_refused(tls_server):
    port, _ = tls_server
    outcome = delivery.post(f"https://localhost:{port}/hooks", body="{}", headers={})
    assert not outcome.succeeded and "CERTIFICATE_VERIFY_FAILED" in outcome.error


def test_the_certificate_is_checked_against_the_host_name_not_the_pinned_ip(tls_server, monkeypatch):
    port, cert_path = tls_server
    send = requests.Session.send
    monkeypatch.setattr(requests.Session, "send", lambda self, request, **kw: send(self, request,
                                                                                   **{**kw, "verify": str(cert_path)}))
    outcome = delivery.post(f"https://localhost:{port}/hooks", body="{}", headers={})
    assert outcome.succeeded and outcome.snippet == "lo"  # the Host header named localhost too
