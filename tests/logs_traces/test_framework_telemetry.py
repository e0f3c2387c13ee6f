"""FastAPI's own telemetry under instrument()'s control, and the span exporter's manners.

Real programs: the reference backend under uvicorn (FastAPI 0.165, whose own OpenTelemetry telemetry is on by
default) exporting with the OpenTelemetry SDK's OTLP/HTTP exporter to a receiver in this process that records
every path posted to it. Checks: instrument() sets every switch of FastAPI's telemetry (and warns loudly when
a FastAPI that has telemetry lacks the private dict); one request gives exactly one server span and FastAPI adds
no exporter even when told to auto-configure; the per-signal OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone turns
tracing on; a dead collector gives one warning line per interval and no error line.
"""
from __future__ import annotations

import json
import time
import warnings

import fastapi
import httpx
import pytest

import observability
from harness import free_port, wait_until

from .receivers import OtlpReceiver, traceparent

SERVER = 2  # opentelemetry.proto Span.SpanKind


class RecordingReceiver(OtlpReceiver):
    """The OTLP receiver that also keeps every path posted to it (metrics or logs would be FastAPI's)."""

    def __init__(self):
        super().__init__()
        self.paths: list[str] = []

    def handle(self, path, headers, body):
        with self._lock:
            self.paths.append(path)
        return super().handle(path, headers, body)


@pytest.fixture
def otlp():
    with RecordingReceiver() as receiver:
        yield receiver
    assert not receiver.errors, receiver.errors


def log_records(proc) -> list[dict]:
    out = []
    for line in proc.log().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_fastapi_has_the_telemetry_instrument_switches_off():
    """The installed FastAPI (backend/constraints.txt) is one with its own telemetry and the private dict."""
    version = observability._fastapi_version(fastapi.FastAPI())
    assert version >= observability.FASTAPI_TELEMETRY_SINCE, fastapi.__version__
    config = fastapi.FastAPI()._telemetry
    assert set(observability.FRAMEWORK_TELEMETRY_SWITCHES) <= set(config)
    assert config["tracing"] and config["metrics"] and config["logs"] and config["operation_spans"]
    app = fastapi.FastAPI(telemetry={"auto_configure": True})
    observability._disable_framework_telemetry(app)
    assert {key: app._telemetry[key] for key in observability.FRAMEWORK_TELEMETRY_SWITCHES} == \
        dict.fromkeys(observability.FRAMEWORK_TELEMETRY_SWITCHES, False)
    # FastAPI decides per request from this same dict: with every switch off it records nothing.
    assert not app._native_telemetry.enabled()


def test_a_fastapi_without_the_private_dict_gets_a_loud_warning(caplog):
    app = fastapi.FastAPI()
    del app._telemetry  # what a FastAPI that renamed it would look like
    with pytest.warns(RuntimeWarning, match="cannot switch it off"):
        observability._disable_framework_telemetry(app)
    assert any("cannot switch it off" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    # Plain Starlette has no such telemetry: nothing to say.
    from starlette.applications import Starlette
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        observability._disable_framework_telemetry(Starlette())


def test_one_request_gives_one_server_span_and_fastapi_exports_nothing(backend_factory, otlp):
    # FASTAPI_OTEL_AUTO_CONFIGURE=true asks FastAPI to add OTLP exporters of its own from the same
    # variables: its spans would arrive twice, its metrics and logs at /v1/metrics and /v1/logs.
    backend = backend_factory(env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
                                   "OTEL_TRACES_SAMPLER": "always_on", "FASTAPI_OTEL_AUTO_CONFIGURE": "true",
                                   "OTEL_METRIC_EXPORT_INTERVAL": "200", "OTEL_BLRP_SCHEDULE_DELAY": "100"})
    header, trace_id, parent = traceparent()
    r = httpx.get(backend.base_url + "/api/models", headers={"traceparent": header}, timeout=10)
    assert r.status_code == 200
    spans = wait_until(lambda: [s for s in otlp.snapshot() if s.trace_id == trace_id], 15,
                       message="the request's spans")
    time.sleep(0.5)  # a duplicate from a second processor would come in the same export window or the next
    spans = [s for s in otlp.snapshot() if s.trace_id == trace_id]
    server = [s for s in spans if s.kind == SERVER]
    assert len(server) == 1, [(s.name, s.kind) for s in spans]
    assert server[0].name == "GET /api/models" and server[0].parent_span_id == parent
    # No FastAPI operation spans (dependencies, endpoint, serialisation) and nothing but traces posted.
    assert all(s.name == "GET /api/models" or s.kind != 1 for s in spans), [s.name for s in spans]
    assert set(otlp.paths) == {"/v1/traces"}, otlp.paths


def test_the_per_signal_traces_endpoint_alone_turns_tracing_on(backend_factory, otlp):
    backend = backend_factory(env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp.url + "/v1/traces",
                                   "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_TRACES_SAMPLER": "always_on"})
    header, trace_id, _ = traceparent()
    assert httpx.get(backend.base_url + "/api/models", headers={"traceparent": header}, timeout=10).status_code == 200
    wait_until(lambda: [s for s in otlp.snapshot() if s.trace_id == trace_id], 15,
               message="a span sent to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def test_a_dead_collector_gives_one_warning_per_interval_and_no_error_line(backend_factory):
    dead = f"http://127.0.0.1:{free_port()}/v1/traces"  # nothing listens there
    backend = backend_factory(env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": dead, "OTEL_TRACES_SAMPLER": "always_on",
                                   "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_EXPORTER_OTLP_TIMEOUT": "0.3"})
    with httpx.Client(base_url=backend.base_url, timeout=10) as http:
        deadline = time.monotonic() + 4  # ~80 export attempts at a 50 ms schedule: many failed batches
        while time.monotonic() < deadline:
            assert http.get("/api/models").status_code == 200
    warned = wait_until(lambda: [r for r in log_records(backend) if "span export failing" in r.get("message", "")],
                        15, message="the export warning")
    time.sleep(1)  # more failing batches after the first line: still no second line
    records = log_records(backend)
    errors = [r for r in records if r.get("level") in ("error", "critical")]
    warned = [r for r in records if "span export failing" in r.get("message", "")]
    assert not errors, errors[:3]
    assert len(warned) == 1 and warned[0]["level"] == "warning", warned
    exporter_lines = [r for r in records if r.get("logger", "").startswith("opentelemetry.exporter")]
    assert exporter_lines == warned, exporter_lines[:5]
