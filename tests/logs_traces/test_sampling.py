"""Sampling decided before the span: trace ids and the sampled flag propagate as the SDK's would.

Real programs: a Python subprocess running a bare FastAPI app with instrument(tracing=True),
the real OpenTelemetry SDK (its in-memory exporter records the ended spans) and Starlette's
TestClient. Inside the handler the test reads the current span context, injects outgoing
headers and starts a child span, then compares all of that with what the SDK exported.
"""
from __future__ import annotations

import json
import subprocess
import sys

from harness import BACKEND_DIR

SCRIPT = r'''
import json, os
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from observability import instrument

app = FastAPI()
seen = []

@app.get("/work")
def work():
    ctx = trace.get_current_span().get_span_context()
    headers = {}
    propagate.inject(headers)
    child = trace.get_tracer("test").start_span("child")
    child_recording = child.is_recording()
    child.end()
    seen.append({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
                 "sampled": bool(ctx.trace_flags & 1), "flags": format(ctx.trace_flags, "02x"), "outgoing": headers.get("traceparent"),
                 "child_recording": child_recording})
    return {}

instrument(app, service="sampling", tracing=True)
exporter = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
client = TestClient(app)
for _ in range(200):
    client.get("/work")
client.get("/work", headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
client.get("/work", headers={"traceparent": "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"})
# X-Request-ID and traceparent together, in both orders: the middleware's one pass over the headers finds both.
echoed = [client.get("/work", headers=h).headers["x-request-id"] for h in (
    {"x-request-id": "req-42", "traceparent": "00-2af7651916cd43dd8448eb211c80319c-d7ad6b7169203331-01"},
    {"traceparent": "00-3af7651916cd43dd8448eb211c80319c-e7ad6b7169203331-01", "x-request-id": "req-43"})]
# Under an outer instrumentation's span (current before the middleware runs): the server span is its child.
outer_tracer, outer = trace.get_tracer("outer"), []
async def outer_app(scope, receive, send):
    with outer_tracer.start_as_current_span("outer") as span:
        ctx = span.get_span_context()
        outer.append({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
                      "sampled": bool(ctx.trace_flags & 1)})
        await app(scope, receive, send)
outer_client = TestClient(outer_app)
for _ in range(20):
    outer_client.get("/work")
spans = [{"name": s.name, "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
          "parent": format(s.parent.span_id, "016x") if s.parent else None, "kind": s.kind.name}
         for s in exporter.get_finished_spans()]
from prometheus_client import REGISTRY
from prometheus_client.openmetrics.exposition import generate_latest
exemplars = [line.split(b"trace_id=\"")[1][:32].decode() for line in generate_latest(REGISTRY).splitlines()
             if line.startswith(b"http_server_request_duration_seconds_bucket") and b" # " in line]
print("RESULT " + json.dumps({"seen": seen, "spans": spans, "exemplars": exemplars, "echoed": echoed,
                            "outer": outer}), flush=True)
'''


def run(ratio: str) -> dict:
    env = {"PYTHONPATH": str(BACKEND_DIR), "OTEL_TRACES_SAMPLER_ARG": ratio, "OTEL_BSP_SCHEDULE_DELAY": "600000",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_TIMEOUT": "0.1",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["access"] = [json.loads(line) for line in out.stdout.splitlines() if '"logger":"access"' in line]
    return result


def test_unsampled_requests_carry_their_trace_id_and_sampled_ones_are_the_sdks():
    result = run("0.5")
    seen, spans = result["seen"], result["spans"]
    roots, unsampled_parent, sampled_parent = seen[:200], seen[200], seen[201]
    servers = {s["trace_id"]: s for s in spans if s["name"] == "GET /work"}
    children = {s["trace_id"]: s for s in spans if s["name"] == "child"}
    sampled = [r for r in roots if r["sampled"]]
    assert 60 <= len(sampled) <= 140, f"{len(sampled)} of 200 sampled at 0.5"
    assert len({r["trace_id"] for r in roots}) == 200  # every request its own valid trace id
    for r in roots:
        assert r["flags"] == ("03" if r["sampled"] else "02")  # the SDK's flags: random trace id (+ sampled)
        assert r["outgoing"] == f"00-{r['trace_id']}-{r['span_id']}-{r['flags']}"  # propagated as it is
        assert r["child_recording"] == r["sampled"]                           # children follow the decision
        if r["sampled"]:  # the SDK's span has the trace id drawn before it, and is the child's parent
            assert servers[r["trace_id"]]["span_id"] == r["span_id"]
            assert children[r["trace_id"]]["parent"] == r["span_id"]
        else:
            assert r["trace_id"] not in servers and r["trace_id"] not in children
    # An unsampled caller: its trace id is kept, a new span id, the flag stays off, nothing exported.
    assert unsampled_parent["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert not unsampled_parent["sampled"] and unsampled_parent["span_id"] != "b7ad6b7169203331"
    assert unsampled_parent["outgoing"].endswith("-00") and unsampled_parent["trace_id"] not in servers
    # The decision is TraceIdRatioBased's on the trace id's low 64 bits, as a downstream sampler at 0.5 decides.
    for r in roots:
        assert (int(r["trace_id"], 16) & (1 << 64) - 1 < 1 << 63) == r["sampled"], r
    # A sampled caller is always followed, under its span.
    assert sampled_parent["sampled"]
    assert servers["1af7651916cd43dd8448eb211c80319c"]["parent"] == "c7ad6b7169203331"
    # ... also when the request brings its own X-Request-ID, before or after traceparent.
    assert result["echoed"] == ["req-42", "req-43"]
    assert servers["2af7651916cd43dd8448eb211c80319c"]["parent"] == "d7ad6b7169203331"
    assert servers["3af7651916cd43dd8448eb211c80319c"]["parent"] == "e7ad6b7169203331"
    assert [line["request_id"] for line in result["access"][202:204]] == ["req-42", "req-43"]
    # Under an outer span: its trace, its sampling decision, and (sampled) the server span is its child.
    assert len(result["outer"]) == 20 and 0 < sum(o["sampled"] for o in result["outer"]) < 20
    for o, r in zip(result["outer"], seen[204:]):
        assert (r["trace_id"], r["sampled"]) == (o["trace_id"], o["sampled"])
        assert not r["sampled"] or (servers[r["trace_id"]]["parent"], servers[r["trace_id"]]["kind"]) == (
            o["span_id"], "INTERNAL")
    assert {servers[r["trace_id"]]["kind"] for r in roots if r["sampled"]} == {"SERVER"}
    assert set(servers) == {r["trace_id"] for r in seen if r["sampled"]}
    # Each request's access line carries its span's ids when sampled, none otherwise (the middleware takes them
    # from start()'s handle, not from the current context).
    assert len(result["access"]) == len(seen)
    for r, line in zip(seen, result["access"]):
        assert (line.get("trace_id"), line.get("span_id")) == ((r["trace_id"], r["span_id"]) if r["sampled"]
                                                               else (None, None))
    # The latency histogram's exemplars (written in place by the middleware, as observe() would) point at
    # sampled traces only, the last sampled request's among them.
    assert result["exemplars"] and set(result["exemplars"]) <= set(servers)
    assert [r for r in seen if r["sampled"]][-1]["trace_id"] in result["exemplars"]
