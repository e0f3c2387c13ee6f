"""The reference backend's traces reach the real Jaeger and are found through its query API.

Real programs: Jaeger 2.12 (the pinned release, built by make tools; OTLP receiver, in-memory storage,
query API, all on loopback ports), the reference backend under uvicorn exporting with the OpenTelemetry
SDK's OTLP/HTTP exporter, and PostgreSQL. What test_tracing.py checks byte by byte at a receiver in the
test process, this test finds where users look: Jaeger's trace view, with its parent/child tree.
"""
from __future__ import annotations

import httpx
import pytest

from harness import wait_until
from harness.monitoring import start_jaeger

from .receivers import traceparent


@pytest.fixture(scope="module")
def jaeger():
    proc = start_jaeger()
    yield proc
    proc.stop()


def jaeger_trace(jaeger, trace_id: str) -> dict | None:
    """The trace as Jaeger's query API returns it (GET /api/traces/{id}), or None while it is unknown."""
    r = httpx.get(f"{jaeger.base_url}/api/traces/{trace_id}", timeout=5)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    data = r.json()["data"]
    return data[0] if data else None


def test_workflow_trace_is_found_in_jaeger(backend_factory, pg_database, jaeger):
    backend = backend_factory(env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http, "OTEL_BSP_SCHEDULE_DELAY": "100",
                                   "OTEL_TRACES_SAMPLER_ARG": "0", "DATABASE_URL": pg_database})
    header, trace_id, parent = traceparent()
    with httpx.Client(base_url=backend.base_url, timeout=10) as http:
        created = http.post("/api/workflows", json={"name": "jaeger", "input": "x"}, headers={"traceparent": header})
        assert created.status_code == 202, created.text
        wf_id = created.json()["id"]
        wait_until(lambda: http.get(f"/api/workflows/{wf_id}").json()["status"] in ("completed", "failed"),
                   30, message="workflow to finish")
        steps = http.get(f"/api/workflows/{wf_id}").json()["steps"]

    def complete():
        trace = jaeger_trace(jaeger, trace_id)
        names = [s["operationName"] for s in trace["spans"]] if trace else []
        calls = [n for n in names if n.startswith("chat ")]  # GenAI conventions: "chat <model>"
        return trace if "workflow.run" in names and len(calls) == len(steps) else None
    trace = wait_until(complete, 30, message="the workflow's trace in Jaeger")

    spans = {s["spanID"]: s for s in trace["spans"]}
    parent_of = {sid: next((r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"), None)
                 for sid, s in spans.items()}
    by_name = {}
    for sid, s in spans.items():
        by_name.setdefault(s["operationName"], []).append(sid)
    (server,) = by_name["POST /api/workflows"]
    (run,) = by_name["workflow.run"]
    # The server span continues the caller's traceparent; the workflow and its LLM calls hang below it.
    assert parent_of[server] == parent
    assert parent_of[run] == server
    calls = [sid for name, sids in by_name.items() if name.startswith("chat ") for sid in sids]
    assert calls and {parent_of[c] for c in calls} == {run}
    assert trace["processes"][spans[server]["processID"]]["serviceName"] == "backend"
    tags = {t["key"]: t["value"] for t in spans[server]["tags"]}
    assert tags["http.route"] == "/api/workflows" and tags["http.response.status_code"] == 202
    # The service list Jaeger's UI offers names the backend.
    services = httpx.get(f"{jaeger.base_url}/api/services", timeout=5).json()["data"]
    assert "backend" in services


def test_jaeger_counts_what_it_received(jaeger, backend_factory):
    """Jaeger's own metrics (scraped by Prometheus in Compose) count the accepted spans."""
    backend = backend_factory(env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http, "OTEL_BSP_SCHEDULE_DELAY": "100",
                                   "OTEL_TRACES_SAMPLER_ARG": "1.0"})
    header, trace_id, _ = traceparent()
    assert httpx.get(backend.base_url + "/api/models", headers={"traceparent": header}, timeout=10).status_code == 200
    wait_until(lambda: jaeger_trace(jaeger, trace_id), 30, message="the marker trace in Jaeger")

    def accepted():
        body = httpx.get(jaeger.metrics_url, timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith("otelcol_receiver_accepted_spans") and 'transport="http"' in line)
    assert wait_until(lambda: accepted() >= 1, 15, message="accepted spans in Jaeger's metrics")
