"""Small HTTP helpers for backend tests (stdlib only)."""
from __future__ import annotations

import json
import urllib.request

from harness import http_get, wait_until


def request(method: str, url: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    """Return (status, headers, parsed JSON or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, h, payload = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, h, payload = e.code, dict(e.headers), e.read()
    try:
        return status, h, json.loads(payload)
    except ValueError:
        return status, h, payload.decode(errors="replace")


def run_workflow(base: str, body: dict | None = None, headers: dict | None = None, timeout: float = 30) -> dict:
    """POST a workflow and poll until it finishes; return its final representation."""
    status, _, created = request("POST", base + "/api/workflows", body or {"name": "test", "input": "hello"},
                                 headers)
    assert status == 202, created

    def done():
        _, _, wf = request("GET", f"{base}/api/workflows/{created['id']}")
        return wf if wf["status"] in ("completed", "failed") else None
    return wait_until(done, timeout, message=f"workflow {created['id']} to finish")


def scrape(base: str) -> str:
    code, body = http_get(base + "/metrics")
    assert code == 200
    return body.decode()


def sample(text: str, name: str, **labels) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    total, found = 0.0, False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                found = True
    return total if found else 0.0
