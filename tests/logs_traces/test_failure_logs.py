"""Every failure a user can see in the metrics writes one structured line, found by the dashboards' LogQL.

Real programs: the reference backend under uvicorn (tracing on, exporting to a local OTLP receiver),
made to fail as users make it fail: a provider outage (fault injection) that fails LLM calls, opens
the breaker and fails workflows; injected 503s; missing and wrong API keys; a probe; a client over the
rate limit until it is blocked. Unhandled exceptions: the instrumentation in a probe app with a route
that raises (the reference backend has none on purpose; see test_sentry.py). Each JSON line goes
through the Alloy stages of loki/config.alloy (test_log_pipeline.process) and the LogQL stream
selector and line filters of the dashboards' "Error logs", "Recent error logs" and "Security log".
"""
from __future__ import annotations

import json
import re

import httpx
import pytest

from harness import REPO, wait_until

from .receivers import OtlpReceiver
from .test_log_pipeline import alloy  # noqa: F401  (fixture)
from .test_log_pipeline import process
from .test_sentry import send_secrets, start_probe

KEY = "failure-logs-key"
LIMIT = 20  # requests per client and minute
TENANT = "acme"
DASHBOARDS = REPO / "grafana" / "dashboards"
# What Grafana puts in the template variables when the backend is selected.
VARIABLES = {"job": "backend", "service": "backend"}
# Every request sampled (the default keeps 10 %; an unsampled request's lines carry no trace_id on purpose).
TRACED = lambda otlp: {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_TRACES_SAMPLER_ARG": "1.0"}  # noqa: E731
MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def loki_query(title: str) -> str:
    (expr,) = {t["expr"] for path in DASHBOARDS.rglob("*.json")
               for p in json.loads(path.read_text()).get("panels", []) if p.get("title") == title
               for t in p.get("targets", []) if t.get("datasource", {}).get("type") == "loki"}
    return re.sub(r"\$(\w+)", lambda m: VARIABLES[m.group(1)], expr)


def selects(query: str, labels: dict, line: str) -> bool:
    """Loki's answer for one entry: the stream selector's matchers (regexes anchored), then the
    line filters (`|= "text"`). The dashboards' log panels use nothing else (checked here)."""
    m = re.fullmatch(r'\{([^}]*)\}((?:\s*\|=\s*"[^"]*")*)\s*', query)
    assert m, f"this evaluator knows selectors and |= filters only: {query}"
    for name, op, value in MATCHER.findall(m.group(1)):
        have = labels.get(name, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None, "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return all(text in line for text in re.findall(r'\|=\s*"([^"]*)"', m.group(2)))


def shipped(alloy_config, proc) -> list[tuple[dict, dict, str]]:
    """(record, Loki labels, line) of every JSON line, labelled as Alloy labels a Compose service."""
    out = []
    for line in proc.log().splitlines():
        if line.startswith("{"):
            labels, _ = process(alloy_config, line)
            out.append((json.loads(line), {"service": VARIABLES["job"], "container": "vigil-backend-1", **labels},
                        line))
    return out


def one(entries, query: str, **fields) -> dict:
    """The line(s) carrying ``fields``: at least one, each selected by ``query``; returns the first."""
    found = [(r, labels, line) for r, labels, line in entries if all(r.get(k) == v for k, v in fields.items())]
    assert found, f"no line with {fields}"
    for record, labels, line in found:
        assert selects(query, labels, line), f"{query} misses {line}"
    return found[0][0]


class TraceIds:
    """``x in TraceIds(entries)``: x is the trace id of the access line of a request (so a failure's line
    joins its request's trace, and its request id)."""

    def __init__(self, entries):
        self.ids = {r["trace_id"] for r, _, _ in entries if r.get("logger") == "access" and "trace_id" in r}
        assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in self.ids) and self.ids

    def __contains__(self, trace_id) -> bool:
        return trace_id in self.ids


def client(base_url: str, source: str) -> httpx.Client:
    """The backend tells clients apart by peer address: each kind of abuse has its own."""
    return httpx.Client(base_url=base_url, timeout=10, transport=httpx.HTTPTransport(local_address=source),
                        headers={"x-tenant-id": TENANT})


@pytest.fixture(scope="module")
def error_queries() -> list[str]:
    return [loki_query("Error logs"), loki_query("Recent error logs")]


def test_every_failure_kind_writes_its_line(alloy, backend_factory, error_queries):  # noqa: F811
    security = loki_query("Security log")
    with OtlpReceiver() as otlp:
        be = backend_factory(env={**TRACED(otlp), "API_KEYS": KEY,
                                  "RATE_LIMIT_PER_MINUTE": str(LIMIT), "BREAKER_FAILURE_THRESHOLD": "2"})
        with client(be.base_url, "127.0.0.1") as c:
            # Provider outage: google fails every call; a few /api answers are 503.
            assert c.put("/api/admin/faults", headers={"x-api-key": KEY}, json={
                "providers": {"google": {"failure_rate": 1.0}}, "duration_seconds": 60}).status_code == 200
            ids = []
            # One after the other: the first two failures open the breaker (threshold 2), so the third
            # workflow's call meets it open. Run at once, all three could fail before it opened.
            with client(be.base_url, "127.0.0.5") as poll:
                for i in range(3):
                    r = c.post("/api/workflows", headers={"x-api-key": KEY, "x-request-id": f"req-wf-{i}"},
                               json={"name": "outage", "input": f"research topic {i}",
                                     "steps": [{"agent": "researcher", "model": "gemini-2.5-pro"}]})
                    assert r.status_code == 202, r.text
                    ids.append(r.json()["id"])
                    wait_until(lambda: poll.get(f"/api/workflows/{ids[-1]}").json()["status"] == "failed",
                               20, interval=0.5, message=f"workflow {i} to fail")
            c.put("/api/admin/faults", headers={"x-api-key": KEY}, json={"http_error_rate": 1.0,
                                                                          "duration_seconds": 60})
            assert c.get("/api/stats/real-time", headers={"x-request-id": "req-503"}).status_code == 503
            c.delete("/api/admin/faults", headers={"x-api-key": KEY})
        with client(be.base_url, "127.0.0.2") as c:   # no key, a wrong key
            assert c.post("/api/workflows", json={"name": "x", "input": "x"},
                          headers={"x-request-id": "req-nokey"}).status_code == 401
            assert c.post("/api/workflows", json={"name": "x", "input": "x"},
                          headers={"x-api-key": "wrong", "x-request-id": "req-badkey"}).status_code == 401
        with client(be.base_url, "127.0.0.3") as c:   # a probe
            c.get("/api/workflows/..%2f..%2fetc%2fpasswd", headers={"x-request-id": "req-probe"})
        with client(be.base_url, "127.0.0.4") as c:   # over the rate limit until blocked
            codes = [c.get("/api/models", headers={"x-request-id": f"req-rl-{i}"}).status_code
                     for i in range(LIMIT + 7)]  # five 429s are five security events: blocked
            assert codes[:LIMIT] == [200] * LIMIT and 429 in codes and codes[-1] == 403, codes
        entries = shipped(alloy, be)

    traced = TraceIds(entries)
    # LLM calls that failed: one error line each, with the whole context.
    for error_type in ({r.get("error_type") for r, _, _ in entries if r.get("message") == "LLM call failed"}
                       or {"(none)"}):
        for query in error_queries:
            line = one(entries, query, message="LLM call failed", error_type=error_type)
        assert (line["level"], line["provider"], line["model"], line["agent"], line["tenant"]) == \
               ("error", "google", "gemini-2.5-pro", "researcher", TENANT)
        assert line["workflow_id"] in ids and line["request_id"].startswith("req-wf-")
        assert line["trace_id"] in traced
    assert "circuit_open" in {r.get("error_type") for r, _, _ in entries if r.get("message") == "LLM call failed"}
    # The breaker opened (error), and the failed workflows, with the agent that failed.
    for query in error_queries:
        opened = one(entries, query, message="circuit breaker open", provider="google")
        failed = one(entries, query, message="workflow failed", workflow_id=ids[0])
    assert opened["error_type"] == "circuit_open" and opened["tenant"] == TENANT and opened["trace_id"] in traced
    assert (failed["agent"], failed["tenant"], failed["request_id"]) == ("researcher", TENANT, "req-wf-0")
    assert failed["error_type"] in {"timeout", "rate_limited", "server_error", "parse_error", "circuit_open"}
    # A 5xx answer: its access line is an error.
    for query in error_queries:
        five = one(entries, query, logger="access", request_id="req-503")
    assert five["status"] == 503 and five["tenant"] == TENANT and five["trace_id"] in traced

    # Security: every line warning, logger "security", found by the Security log.
    nokey = one(entries, security, request_id="req-nokey", reason="missing")
    badkey = one(entries, security, request_id="req-badkey", reason="invalid")
    probe = one(entries, security, request_id="req-probe", event_type="path_traversal")
    limited = one(entries, security, message="rate limit exceeded")
    one(entries, security, message="security event", event_type="rate_limit_abuse")
    one(entries, security, message="client blocked")
    blocked = one(entries, security, message="request from a blocked client refused", request_id=f"req-rl-{LIMIT + 6}")
    for line in (nokey, badkey, limited):
        assert line["tenant"] == TENANT and line["route"] in ("/api/workflows", "/api/models"), line
    for line in (nokey, badkey, probe, limited, blocked):
        assert line["level"] == "warning" and line["logger"] == "security" and line["trace_id"] in traced, line
    # Every line written for a request that named its tenant carries it (the guard's lines come before
    # routing, when the tenant is not known yet).
    for record, _, _ in entries:
        if record.get("request_id", "").startswith(("req-wf-", "req-503", "req-nokey", "req-badkey")):
            assert record.get("tenant") == TENANT, record


def test_unhandled_exception_line_and_500_carry_the_request_id(tmp_path, alloy, error_queries):  # noqa: F811
    with OtlpReceiver() as otlp:
        probe = start_probe(tmp_path, TRACED(otlp))
        try:
            response = send_secrets(probe.base_url)
            assert response.status_code == 500
            rid = response.headers["x-request-id"]
            wait_until(lambda: "unhandled exception" in probe.log(), 10, message="the exception's line")
        finally:
            probe.stop()
    entries = shipped(alloy, probe)
    for query in error_queries:
        line = one(entries, query, message="unhandled exception")
    assert line["request_id"] == rid and line["trace_id"] in TraceIds(entries)
    assert line["exception_type"] == "RuntimeError" and line["route"] == "/boom"
    assert line["exception"].startswith("Traceback") and "probe failure" in line["exception"]
    # One traceback, not two: the server's own id-less copy is dropped.
    assert probe.log().count("Traceback (most recent call last)") == 1
