"""Security behaviour of the real backend (uvicorn), with an in-process store or a real redis-server."""
from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from backend.helpers import request, run_workflow, sample, scrape
from harness import wait_until


def test_api_key_required_for_writes_when_configured(backend_factory):
    be = backend_factory(env={"API_KEYS": "k-one,k-two"})
    url = be.base_url + "/api/workflows"
    status, headers, body = request("POST", url, {"name": "x"})
    assert status == 401 and body["detail"].startswith("API key required")
    assert request("POST", url, {"name": "x"}, {"x-api-key": "wrong"})[0] == 401
    assert request("POST", url, {"name": "x"}, {"authorization": "Bearer also-wrong"})[0] == 401
    assert request("POST", url, {"name": "x"}, {"x-api-key": "k-two"})[0] == 202
    assert request("POST", url, {"name": "x"}, {"authorization": "Bearer k-one"})[0] == 202
    assert request("GET", be.base_url + "/api/stats/real-time")[0] == 200  # reads stay open
    text = scrape(be.base_url)
    assert sample(text, "auth_failures_total", reason="missing") == 1
    assert sample(text, "auth_failures_total", reason="invalid") == 2
    assert sample(text, "security_events_total", event_type="auth_abuse") == 2


def test_writes_open_without_api_keys(backend):
    assert request("POST", backend.base_url + "/api/workflows", {"name": "x"})[0] == 202


def test_probes_are_security_events_and_repeat_offenders_are_blocked(backend_factory):
    be = backend_factory(env={"BLOCK_AFTER_EVENTS": "3", "BLOCK_SECONDS": "2"})
    base = be.base_url
    assert request("GET", base + "/api/stats/real-time?id=1'%20OR%201=1")[0] == 200
    assert request("GET", base + "/static/..%2F..%2Fetc%2Fpasswd")[0] == 404
    text = scrape(base)
    assert sample(text, "security_events_total", event_type="sql_injection") == 1
    assert sample(text, "security_events_total", event_type="path_traversal") == 1
    assert sample(text, "security_blocks_total") == 0
    request("GET", base + "/api/stats/real-time?q=1%20UNION%20SELECT%20password%20FROM%20users")
    status, headers, body = request("GET", base + "/api/models")  # an innocent request, now refused
    assert status == 403 and int(headers["retry-after"]) >= 1
    assert request("GET", base + "/health")[0] == 200  # probes stay reachable
    text = scrape(base)
    assert sample(text, "security_blocks_total") == 1
    assert sample(text, "security_blocked_requests_total") == 1
    wait_until(lambda: request("GET", base + "/api/models")[0] == 200, 10, interval=0.2,
               message="block to expire")


def _not_near_minute_end():
    """The rate limit uses one-minute windows: start a burst well inside one."""
    wait_until(lambda: time.time() % 60 < 45, 20, interval=0.5, message="start of a rate-limit window")


def test_rate_limit_429_with_retry_after(backend_factory):
    be = backend_factory(env={"RATE_LIMIT_PER_MINUTE": "5", "BLOCK_AFTER_EVENTS": "100"})
    _not_near_minute_end()
    codes = [request("GET", be.base_url + "/api/stats/real-time") for _ in range(7)]
    assert [c[0] for c in codes] == [200] * 5 + [429] * 2
    assert 1 <= int(codes[-1][1]["retry-after"]) <= 60
    assert request("GET", be.base_url + "/health")[0] == 200  # probes are not limited
    text = scrape(be.base_url)
    assert sample(text, "rate_limit_rejections_total", http_route="/api/stats/real-time") == 2
    assert sample(text, "security_events_total", event_type="rate_limit_abuse") == 2


def test_rate_limit_holds_across_workers_with_redis(backend_factory, redis_url):
    be = backend_factory(env={"RATE_LIMIT_PER_MINUTE": "10", "REDIS_URL": redis_url, "BLOCK_AFTER_EVENTS": "3",
                              "BLOCK_SECONDS": "5"},
                         workers=2)
    _not_near_minute_end()
    codes = [request("GET", be.base_url + "/api/models")[0] for _ in range(20)]
    # 10 pass whichever worker serves them; then 429s, then 403 once the client is blocked.
    assert codes[:10] == [200] * 10
    assert codes[10:13] == [429] * 3 and set(codes[13:]) == {403}


def test_unknown_tenant_counts_as_other(backend):
    assert run_workflow(backend.base_url, headers={"x-tenant-id": "acme"})["tenant"] == "acme"
    assert run_workflow(backend.base_url, headers={"x-tenant-id": "evil'); drop"})["tenant"] == "other"
    assert run_workflow(backend.base_url)["tenant"] == "default"
    text = scrape(backend.base_url)
    tenants = {s.labels["tenant"] for f in text_string_to_metric_families(text)
               for s in f.samples if "tenant" in s.labels}
    assert tenants == {"acme", "other", "default"}
