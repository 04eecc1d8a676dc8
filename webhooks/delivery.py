"""One HTTP attempt at delivering a signed message: to the address checked against SSRF, short timeouts, no
redirects, at most a snippet of the answer read."""

import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter

from .security import resolve

SNIPPET_BYTES = 500


@dataclass
class Outcome:
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    snippet: str = ""
    error: str = ""


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked IP while TLS checks the certificate against the URL's host name."""

    def __init__(self, host):
        self.host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self.host
        kwargs["assert_hostname"] = self.host
        super().init_poolmanager(*args, **kwargs)


def _pinned_url(url, target):
    parts = urlsplit(url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    return urlunsplit((target.scheme, f"{address}:{target.port}", parts.path or "/", parts.query, ""))


def post(url, *, body, headers):
    started = time.monotonic()

    def elapsed():
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(url)
    except ValidationError as error:
        return Outcome(succeeded=False, latency_ms=elapsed(), error=f"Refused: {' '.join(error.messages)}"[:500])
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment may carry it elsewhere
    if target.scheme == "https":
        session.mount("https://", _PinnedAdapter(target.host))
    host = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host if target.port in (80, 443) else f"{host}:{target.port}"
    try:
        with session.post(
            _pinned_url(url, target), data=body.encode(), allow_redirects=False, stream=True,
            headers={**headers, "Host": host_header, "Content-Type": "application/json",
                     "User-Agent": "Mobul-Webhooks/1"},
            timeout=(settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS, settings.WEBHOOKS_READ_TIMEOUT_SECONDS),
        ) as response:
            snippet = next(response.iter_content(SNIPPET_BYTES), b"").decode("utf-8", "replace")
            ok = 200 <= response.status_code < 300
            return Outcome(succeeded=ok, latency_ms=elapsed(), status_code=response.status_code,
                           snippet=snippet[:SNIPPET_BYTES],
                           error="" if ok else f"HTTP {response.status_code}"
                           + (" (redirects are not followed)" if 300 <= response.status_code < 400 else ""))
    except requests.RequestException as error:
        return Outcome(succeeded=False, latency_ms=elapsed(), error=f"{type(error).__name__}: {error}"[:500])
    finally:
        session.close()
