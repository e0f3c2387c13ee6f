"""Traffic the project's load generator does not send: security events (rate limiting, auth
failures, probes, a blocked client) and a provider outage that opens a circuit breaker.

The backend identifies a client by its peer address, so each abusive client connects from
its own loopback address (127.0.0.x): they get limited and blocked while the load
generator's traffic from 127.0.0.1 keeps flowing.
"""
from __future__ import annotations

import httpx

API_KEY = "grafana-test-key"


def _client(base_url: str, source: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10,
                        transport=httpx.HTTPTransport(local_address=source))


def security_burst(base_url: str, rate_limit: int) -> None:
    """One-off abuse, each kind from its own address."""
    with _client(base_url, "127.0.0.2") as c:  # over the rate limit, then blocked (403)
        for _ in range(rate_limit + 12):
            c.get("/api/stats/real-time")
    with _client(base_url, "127.0.0.3") as c:  # probes: path traversal, SQL injection
        for _ in range(3):
            c.get("/api/workflows/..%2f..%2fetc%2fpasswd")
            c.get("/api/stats/cost-summary", params={"q": "' or 1=1"})
    with _client(base_url, "127.0.0.4") as c:  # missing and invalid API keys
        body = {"name": "nokey", "input": "x"}
        for _ in range(2):
            c.post("/api/workflows", json=body)
            c.post("/api/workflows", json=body, headers={"X-API-Key": "wrong"})


def inject_faults(base_url: str) -> None:
    """google fails every call for a while (its breaker opens); some /api answers are 503."""
    with _client(base_url, "127.0.0.5") as c:
        r = c.put("/api/admin/faults", headers={"X-API-Key": API_KEY},
                  json={"providers": {"google": {"failure_rate": 1.0}}, "http_error_rate": 0.05,
                        "duration_seconds": 25})
        r.raise_for_status()
