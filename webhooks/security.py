"""Endpoint URLs may not reach into our own network (SSRF): https only outside development and tests
(WEBHOOKS_ALLOW_HTTP), and every address the host resolves to must be public (WEBHOOKS_ALLOW_PRIVATE_NETWORKS
lifts that for tests and local receivers). Checked when an endpoint is saved and again at each delivery, which
then connects to the address it checked, so a DNS answer that changes in between cannot redirect it."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL: the Host header, TLS server name and certificate check
    port: int
    address: str  # the checked IP the delivery connects to


def _parse(url):
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as error:
        raise ValidationError(f"Not a valid URL: {error}.") from None
    allowed = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError("The URL must start with https://." if parts.scheme != "https" else "Not a valid URL.")
    if not host or parts.username or parts.password:
        raise ValidationError("The URL needs a host name, and no user name or password.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _refused(address):
    """Why `address` may not be delivered to, or None."""
    if settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS:
        return None
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_reserved or ip.is_multicast:
        return "a reserved address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global:
        return "a reserved address"
    return None


def resolve(url):
    """The Target of `url`: its first address, once every address the host resolves to is allowed. Raises
    ValidationError saying why not."""
    scheme, host, port = _parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ValidationError(f"The host {host} could not be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        reason = _refused(address)
        if reason:
            raise ValidationError(f"The host {host} resolves to {address}, {reason}: webhooks are only sent to "
                                  "public internet addresses.")
    return Target(scheme=scheme, host=host, port=port, address=addresses[0])
