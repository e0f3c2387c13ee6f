"""An exemplar on a latency panel resolves to a trace in Jaeger, which got it through the OTLP gateway.

Real programs: the reference backend under uvicorn (one process: prometheus_client keeps exemplars only
there), tracing every request (OTEL_TRACES_SAMPLER_ARG=1.0) to the OpenTelemetry Collector built from
otelcol/builder.yaml with the shipped otelcol/config.yaml (tests/harness/otlp.py), which forwards to Jaeger
2.12; Prometheus 3.13 with the shipped prometheus.yml (backend target rewritten) and
--enable-feature=exemplar-storage, scraping the backend's OpenMetrics. The exemplar query is the generic
overview dashboard's own (the target with `exemplar: true`), expanded as Grafana expands it.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse

import httpx
import pytest

from grafana.panels import all_panels, datasources, expand
from harness import REPO, free_port, http_get, wait_until
from harness.monitoring import compose_command, rewrite_targets, start_jaeger, start_prometheus
from harness.otlp import LogsReceiver, start_collector

LATENCY_PANELS = {"Latency p50 / p95 / p99", "p95 latency by route"}


def exemplar_targets() -> list[tuple[dict, str, str]]:
    dash = json.loads((REPO / "grafana/dashboards/generic/overview.json").read_text())
    return [(dash, panel["title"], t["expr"]) for panel in all_panels(dash) for t in panel.get("targets", [])
            if t.get("exemplar")]


def test_the_latency_panels_ask_for_exemplars_on_raw_buckets():
    found = exemplar_targets()
    assert {title for _, title, _ in found} == LATENCY_PANELS
    for _, title, expr in found:
        assert "http_server_request_duration_seconds_bucket{" in expr and ":" not in expr.split("{")[0], (title, expr)


@pytest.fixture(scope="module")
def stack(backend_factory_module):
    assert "--enable-feature=exemplar-storage" in compose_command("prometheus")
    jaeger, logs = start_jaeger(), LogsReceiver()
    collector = start_collector(jaeger.otlp_grpc, f"http://127.0.0.1:{free_port()}", logs.url)
    backend = backend_factory_module(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http,
                                          "OTEL_TRACES_SAMPLER_ARG": "1.0", "OTEL_BSP_SCHEDULE_DELAY": "200"})
    config = rewrite_targets((REPO / "prometheus/prometheus.yml").read_text(),
                             {"backend:8000": f"127.0.0.1:{backend.port}"})
    prom = start_prometheus(config)
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                http_get(backend.base_url + "/api/models", timeout=5)
            except OSError:
                pass
            stop.wait(0.1)
    threading.Thread(target=traffic, daemon=True).start()
    try:
        yield {"prom": prom, "jaeger": jaeger, "backend": backend}
    finally:
        stop.set()
        for proc in (prom, collector, jaeger):
            proc.stop()
        logs.stop()


@pytest.fixture(scope="module")
def backend_factory_module():
    from harness import start_backend
    started = []

    def start(**kwargs):
        proc = start_backend(**kwargs)
        started.append(proc)
        return proc
    yield start
    for proc in started:
        proc.stop()


def query_exemplars(base: str, expr: str) -> list[dict]:
    now = time.time()
    params = {"query": expr, "start": now - 600, "end": now}
    code, body = http_get(f"{base}/api/v1/query_exemplars?" + urllib.parse.urlencode(params), timeout=10)
    data = json.loads(body)
    assert code == 200 and data["status"] == "success", data
    return [e for series in data["data"] for e in series["exemplars"]]


def test_a_panels_exemplar_opens_a_trace_that_reached_jaeger_through_the_collector(stack):
    sources = datasources()
    dash, title, expr = next(t for t in exemplar_targets() if t[1] == "Latency p50 / p95 / p99")
    for var in ("service",):
        for v in dash["templating"]["list"]:
            if v["name"] == var:
                v["current"] = {"text": "backend", "value": "backend"}
    query = expand(expr, dash, sources)
    assert 'job="backend"' in query
    exemplars = wait_until(lambda: query_exemplars(stack["prom"].base_url, query), 90, interval=1,
                           message="exemplars for the overview's latency query")
    trace_ids = [e["labels"]["trace_id"] for e in exemplars if "trace_id" in e["labels"]]
    assert trace_ids, exemplars[:3]
    jaeger = stack["jaeger"]

    def in_jaeger():
        for trace_id in reversed(trace_ids[-20:]):
            r = httpx.get(f"{jaeger.base_url}/api/traces/{trace_id}", timeout=5)
            if r.status_code == 200 and r.json().get("data"):
                return trace_id, r.json()["data"][0]
        return None
    trace_id, trace = wait_until(in_jaeger, 30, interval=1, message="an exemplar's trace in Jaeger")
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert services == {"backend"}
    assert any(s["operationName"].startswith("GET ") for s in trace["spans"])
    print(f"\nexemplar trace {trace_id} found in Jaeger ({len(trace_ids)} exemplars with trace ids)")
