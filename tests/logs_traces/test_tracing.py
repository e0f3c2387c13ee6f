"""Traces from the real backend (uvicorn subprocess) over real OTLP/HTTP to a receiver in this process.

Real programs: the reference backend under uvicorn, PostgreSQL (the workflow test), and the
OpenTelemetry SDK's own OTLP/HTTP exporter; the receiver decodes the protobuf the way Jaeger's
OTLP endpoint would. Checks span names, parent/child links, attributes, parent-based ratio
sampling, the trace id in the JSON access log and in the latency histogram's exemplar, and that
a collector that is down neither fails nor slows requests.
"""
from __future__ import annotations

import json
import statistics

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from harness import free_port, wait_until
from observability import metrics

from .receivers import OtlpReceiver, traceparent

SERVER, CLIENT = 2, 3  # opentelemetry.proto Span.SpanKind values
MARKER_INPUT = "marker-input-9f3c"  # workflow input text that must never reach a span attribute


@pytest.fixture
def otlp():
    with OtlpReceiver() as receiver:
        yield receiver
    assert not receiver.errors, receiver.errors


def tracing_env(otlp, **extra) -> dict:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100", **extra}


def log_lines(proc) -> list[dict]:
    lines = []
    for line in proc.log().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def test_workflow_trace_links_logs_and_exemplar(backend_factory, pg_database, otlp):
    # Ratio 0: nothing is sampled unless the caller's traceparent says so (parent-based).
    backend = backend_factory(env={**tracing_env(otlp, OTEL_TRACES_SAMPLER_ARG="0"),
                                   "DATABASE_URL": pg_database})
    header, trace_id, parent = traceparent()
    with httpx.Client(base_url=backend.base_url, timeout=10) as http:
        created = http.post("/api/workflows", json={"name": "traced", "input": MARKER_INPUT},
                            headers={"traceparent": header})
        assert created.status_code == 202, created.text
        wf_id, request_id = created.json()["id"], created.headers["x-request-id"]
        done = wait_until(lambda: http.get(f"/api/workflows/{wf_id}").json()["status"] in ("completed", "failed"),
                          30, message="workflow to finish")
        assert done
        steps = http.get(f"/api/workflows/{wf_id}").json()["steps"]

    def exported():
        spans = otlp.snapshot()
        names = [s.name for s in spans]
        calls = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
        return spans if len(calls) == len(steps) and "workflow.run" in names else None
    spans = wait_until(exported, 15, message="the workflow's spans at the receiver")
    # Requests without a sampled traceparent (the polling GETs) produced no spans at all.
    assert {s.trace_id for s in spans} == {trace_id}

    servers = [s for s in spans if s.kind == SERVER]
    assert len(servers) == 1, [s.name for s in servers]
    (server,) = servers
    assert server.name == "POST /api/workflows"
    assert server.parent_span_id == parent, "the incoming traceparent was not continued"
    assert server.service == "backend"
    assert server.attributes["http.route"] == "/api/workflows"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 202

    (run,) = [s for s in spans if s.name == "workflow.run"]
    assert run.parent_span_id == server.span_id
    assert run.attributes["workflow.id"] == wf_id
    # LLM calls follow the GenAI semantic conventions (app/genai.py): "chat <model>", gen_ai.provider.name.
    calls = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert {c.parent_span_id for c in calls} == {run.span_id}
    assert sorted(c.attributes["gen_ai.request.model"] for c in calls) == sorted(s["model"] for s in steps)
    for call in calls:
        assert call.kind == CLIENT
        assert call.name == f"chat {call.attributes['gen_ai.request.model']}"
        assert call.attributes["gen_ai.provider.name"] in ("openai", "anthropic", "gcp.gemini")
        assert "gen_ai.system" not in call.attributes
        assert call.attributes["gen_ai.response.model"] == call.attributes["gen_ai.request.model"]
        assert call.attributes["gen_ai.usage.input_tokens"] > 0
        assert call.attributes["gen_ai.usage.output_tokens"] > 0
        assert call.attributes["llm.cost_usd"] > 0

    db_spans = [s for s in spans if "db.system" in s.attributes]
    db_name = pg_database.rsplit("/", 1)[1]
    assert any(s.parent_span_id == server.span_id and s.name == f"INSERT {db_name}" for s in db_spans)
    assert any(s.parent_span_id == run.span_id and s.name == f"UPDATE {db_name}" for s in db_spans)
    for s in db_spans:
        assert s.kind == CLIENT and s.attributes["db.system"] == "postgresql"
        assert s.attributes["db.namespace"] == db_name
    # No span carries request data: neither the input text nor the workflow's SQL parameters.
    for s in spans:
        assert not any(MARKER_INPUT in str(v) for v in s.attributes.values()), s

    # The access log line of this request carries the exported server span's ids.
    lines = log_lines(backend)
    (access,) = [r for r in lines if r.get("logger") == "access" and r.get("request_id") == request_id]
    assert (access["trace_id"], access["span_id"]) == (trace_id, server.span_id)
    # So does the worker thread's line about the workflow (the context travels with it).
    assert any(r.get("workflow_id") == wf_id and r.get("trace_id") == trace_id
               for r in lines if r.get("logger") == "workflows")
    # Unsampled requests' lines carry no trace id (it would lead nowhere in Jaeger).
    assert all("trace_id" not in r for r in lines if r.get("logger") == "access" and r["method"] == "GET")

    # The latency histogram's exemplar (OpenMetrics only) points at the same trace.
    body = httpx.get(backend.base_url + "/metrics", headers={"Accept": "application/openmetrics-text"}).text
    exemplars = [s.exemplar.labels["trace_id"]
                 for family in text_string_to_metric_families(body)
                 if family.name == metrics.HTTP_REQUEST_DURATION._name
                 for s in family.samples
                 if s.exemplar and s.labels.get("http_route") == "/api/workflows"]
    assert exemplars == [trace_id]


def test_sampling_ratio_follows_env(backend_factory, otlp):
    ratio, n = 0.25, 400
    backend = backend_factory(env=tracing_env(otlp, OTEL_TRACES_SAMPLER_ARG=str(ratio)))
    with httpx.Client(base_url=backend.base_url, timeout=10) as http:
        for _ in range(n):
            assert http.get("/health").status_code == 200
        # A forced-sampled request last: the batch exporter keeps order, so once its span
        # arrives every span ended before it has arrived too.
        header, marker, _ = traceparent()
        assert http.get("/api/models", headers={"traceparent": header}).status_code == 200
    wait_until(lambda: any(s.trace_id == marker for s in otlp.snapshot()), 15, message="the marker span")

    health = [s for s in otlp.snapshot() if s.name == "GET /health"]
    sigma = (n * ratio * (1 - ratio)) ** 0.5
    assert abs(len(health) - n * ratio) <= 4 * sigma, f"{len(health)} of {n} sampled at ratio {ratio}"
    assert all(s.parent_span_id == "" for s in health)  # new traces are roots
    # Exactly the sampled requests' access lines carry a trace id, and it is the span's.
    logged = {r["trace_id"] for r in log_lines(backend) if r.get("route") == "/health" and "trace_id" in r}
    assert logged == {s.trace_id for s in health}


def test_collector_down_neither_fails_nor_slows_requests(backend_factory):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    off = backend_factory()
    down = backend_factory(env={"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_TRACES_SAMPLER": "always_on",
                                "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"})
    timings = {"off": [], "down": []}
    with httpx.Client(timeout=10) as http:
        for _ in range(6):  # interleaved rounds, so load from other work hits both alike
            for key, proc in (("off", off), ("down", down)):
                for _ in range(40):
                    r = http.get(proc.base_url + "/api/models")
                    assert r.status_code == 200
                    timings[key].append(r.elapsed.total_seconds())
    # Not vacuous: the exporter really tried the dead endpoint while we measured.
    wait_until(lambda: "opentelemetry.exporter.otlp" in down.log(), 15,
               message="an export failure in the traced backend's log")
    med_off, med_down = statistics.median(timings["off"]), statistics.median(timings["down"])
    print(f"median latency: tracing off {med_off * 1000:.2f} ms, collector down {med_down * 1000:.2f} ms")
    assert med_down <= 3 * med_off + 0.005, (med_off, med_down)
