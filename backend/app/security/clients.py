"""Who is calling: the key that identifies a client for limits and blocks."""
from __future__ import annotations

import ipaddress
from functools import lru_cache


def client_key(scope) -> str:
    """The peer address (an IPv6 one as its /64).

    Not an API key (a prober could send a fresh random key with each try) and not
    X-Forwarded-For (any client can set it). Behind a reverse proxy, run uvicorn
    with --proxy-headers and --forwarded-allow-ips so the peer address is the real one.
    """
    client = scope.get("client")
    return "ip:" + (_bucket(client[0]) if client else "unknown")


@lru_cache(maxsize=4096)
def _bucket(host: str) -> str:
    """One bucket per client: an IPv6 client gets its whole /64 (the smallest block a site is given, so one
    host can hold 2^64 addresses), an IPv4-mapped address is the IPv4 one, and ::1 is 127.0.0.1."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a unix socket path or a name: as it is
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        if address.is_loopback:
            return "127.0.0.1"
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
