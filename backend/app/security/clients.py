"""Who is calling: the key that identifies a client for limits and blocks."""
from __future__ import annotations


def client_key(scope) -> str:
    """The peer address.

    Not an API key (a prober could send a fresh random key with each try) and not
    X-Forwarded-For (any client can set it). Behind a reverse proxy, run uvicorn
    with --proxy-headers and --forwarded-allow-ips so the peer address is the real one.
    """
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")
