import ipaddress

from django.conf import settings


def _is_trusted_proxy(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


def _trusted_networks():
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.TRUSTED_PROXIES]


def client_ip(request):
    """The caller's address. X-Forwarded-For is only believed when it was set by a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted_proxy(remote):
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    # Walk from the nearest hop outwards; the first address that is not one of ours is the client.
    for hop in reversed(forwarded):
        if not _is_trusted_proxy(hop):
            return hop
    return forwarded[0] if forwarded else remote
