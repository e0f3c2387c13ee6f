"""The hand-written OTLP span encoder against the stock one, and the exporter that sends it.

Real programs: the OpenTelemetry SDK making spans, its stock encoder (the reference bytes)
and its OTLP/HTTP client, posting to a receiver in this process over real HTTP. No server.
"""
from __future__ import annotations

import logging

import pytest
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as stock_encode
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, StatusCode

from observability.otlp import LeanOTLPSpanExporter, Unsupported, encode_spans
from observability.tracing import ServerTracer

from .receivers import OtlpReceiver

EVERY_VALUE = {
    "str": "ünïcode ✓", "empty": "", "true": True, "false": False, "zero": 0, "negative": -1,
    "int64 max": (1 << 63) - 1, "int64 min": -(1 << 63), "float": -1.5, "float zero": 0.0,
    "nan": float("nan"), "bytes": b"\x00\xff", "no bytes": b"", "strings": ("a", "", "b"),
    "ints": [1, -2, 300], "floats": (0.5,), "bools": [True, False], "empty list": [],
    "map": {"k": "v", "n": {"deep": [1, "x"]}},
}


def make_spans() -> list:
    """Spans of every shape the SDK makes: two resources, scopes with and without versions, remote
    parents with trace state, links, events, errors, dropped attributes / events / links, all kinds."""
    memory = InMemorySpanExporter()
    limits = SpanLimits(max_span_attributes=3, max_events=1, max_links=1)
    main = TracerProvider(resource=Resource.create({"service.name": "enc", "deployment.environment": "t"}))
    other = TracerProvider(resource=Resource({"service.name": "other", "n": 3}, "https://opentelemetry.io/schemas/1.21.0"),
                           span_limits=limits)
    for provider in (main, other):
        provider.add_span_processor(SimpleSpanProcessor(memory))

    # The server spans exactly as the middleware makes them, sampled (ratio 1).
    server = ServerTracer(main.get_tracer("observability.http"), exemplars=True)
    ok = server.start({"headers": [(b"host", b"x")], "path": "/items/7", "scheme": "https"}, "GET")
    server.finish(ok, "/items/{item_id}", 200, None)
    remote = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
              "tracestate": "vendor=opaque,other=1"}
    failed = server.start({"headers": [(k.encode(), v.encode()) for k, v in remote.items()],
                           "path": "/boom", "scheme": "http"}, "POST")
    try:
        raise RuntimeError("kaput")
    except RuntimeError as exc:
        server.finish(failed, "unmatched", 500, exc)

    tracer = main.get_tracer("app", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0",
                             attributes={"scope.attr": "yes"})
    parent = propagate.extract(remote)
    with tracer.start_as_current_span("every value", kind=SpanKind.PRODUCER, attributes=EVERY_VALUE) as span:
        span.add_event("event", {"a": 1}, timestamp=1_700_000_000_000_000_000)
        span.set_status(StatusCode.OK)
        with tracer.start_as_current_span("", kind=SpanKind.CONSUMER,
                                          links=[Link(span.get_span_context(), {"l": "local"}),
                                                 Link(trace.get_current_span(parent).get_span_context())]):
            pass
    with main.get_tracer("plain").start_span("child of remote", context=parent, kind=SpanKind.CLIENT) as span:
        span.set_status(StatusCode.ERROR, "described")
    limited = other.get_tracer("limited").start_span(
        "limited", attributes={f"k{i}": i for i in range(5)},
        links=[Link(span.get_span_context()), Link(span.get_span_context(), {"x": 1})])
    for i in range(3):
        limited.add_event(f"e{i}")
    limited.end()
    return memory.get_finished_spans()


def test_encoding_is_byte_for_byte_the_stock_encoders():
    spans = make_spans()
    assert len(spans) == 6
    assert {s.resource.attributes["service.name"] for s in spans} == {"enc", "other"}
    assert any(s.dropped_attributes and s.dropped_events and s.dropped_links for s in spans)
    assert encode_spans(spans) == stock_encode(spans).SerializePartialToString()
    for span in spans:  # one at a time too: each shape on its own
        assert encode_spans([span]) == stock_encode([span]).SerializePartialToString(), span.name
    assert encode_spans([]) == stock_encode([]).SerializePartialToString() == b""


def test_the_sdks_own_spans_are_read_from_their_fields_and_repeated_pairs_from_the_cache(monkeypatch):
    """The SDK's spans without events or links (server spans) are written from their fields (_sdk_span), with
    dropped counts and limits of zero too; pairs written before come from the cache, which keeps True, 1 and 1.0
    apart and starts over when full. Every shape still gives the stock bytes."""
    import observability.otlp as otlp

    memory = InMemorySpanExporter()
    zero = TracerProvider(span_limits=SpanLimits(max_span_attributes=2, max_events=0, max_links=0))
    zero.add_span_processor(SimpleSpanProcessor(memory))
    tracer = zero.get_tracer("zero")
    with tracer.start_as_current_span("dropped", links=[Link(trace.SpanContext(5, 6, is_remote=True))]) as span:
        span.set_attributes({"a": 1, "b": "x", "c": 2.5})
        span.add_event("gone")
    for flag in (True, 1, 1.0, "1", 1, True):  # equal as dict keys, not as bytes
        tracer.start_span("flag", attributes={"flag": flag}).end()
    spans = memory.get_finished_spans()
    assert spans[0].dropped_attributes and spans[0].dropped_events and spans[0].dropped_links
    # Of make_spans(), the sampled server span and the plain child (the others have events or links).
    assert {s.name for s in make_spans() if otlp._sdk_span(s) is not None} == {"GET /items/{item_id}", "child of remote"}
    assert all(otlp._sdk_span(s) is not None for s in spans)
    for span in spans:
        assert encode_spans([span]) == stock_encode([span]).SerializePartialToString(), span.attributes
    assert encode_spans(spans) == stock_encode(spans).SerializePartialToString()
    monkeypatch.setattr(otlp, "_PAIRS", {})
    many = [tracer.start_span("many", attributes={"path": f"/p/{i}", "n": i}) for i in range(2100)]
    for span in many:
        span.end()
    spans = memory.get_finished_spans()[-2100:]
    assert encode_spans(spans) == stock_encode(spans).SerializePartialToString()
    assert 0 < len(otlp._PAIRS) < 4096  # full once (2 x 2,100 pairs), started over


def test_exporter_sends_those_bytes_through_the_stock_http_client(monkeypatch):
    spans = make_spans()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    with OtlpReceiver() as receiver:
        exporter = LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    assert receiver.bodies == [stock_encode(spans).SerializePartialToString()]
    headers = {k.lower(): v for k, v in receiver.headers[0].items()}
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["content-encoding"] == "gzip"
    assert headers["x-tenant"] == "blue"
    assert {s.name for s in receiver.spans} == {s.name for s in spans}


def test_refused_export_is_a_failure():
    with OtlpReceiver() as receiver:
        receiver.status = 400  # not retryable: one request, then FAILURE
        exporter = LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5)
        assert exporter.export(make_spans()) == SpanExportResult.FAILURE
        assert receiver.requests == 1


def test_value_the_stock_encoder_drops_goes_through_the_stock_path(caplog):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("huge", attributes={"big": 1 << 64, "kept": "yes"}).end()
    spans = memory.get_finished_spans()
    with pytest.raises(Unsupported, match="int64"):
        encode_spans(spans)
    with OtlpReceiver() as receiver, caplog.at_level(logging.ERROR):
        exporter = LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    # The stock encoder logged the key it dropped and sent the rest: what the user would get without us.
    assert "Failed to encode key big" in caplog.text
    assert receiver.bodies == [stock_encode(spans).SerializePartialToString()]
    assert receiver.spans[0].attributes == {"kept": "yes"}


def test_oversized_batch_is_dropped_as_the_stock_exporter_drops_it(caplog):
    spans = make_spans()
    with OtlpReceiver() as receiver, caplog.at_level(logging.WARNING):
        exporter = LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", max_request_size=100)
        assert exporter.export(spans) == SpanExportResult.FAILURE
    assert receiver.requests == 0
    assert "exceeds max_request_size" in caplog.text


def test_shut_down_exporter_refuses():
    with OtlpReceiver() as receiver:
        exporter = LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")
        exporter.shutdown()
        assert exporter.export(make_spans()) == SpanExportResult.FAILURE
    assert receiver.requests == 0


def test_exporter_reporting_its_own_metrics_takes_the_stock_path(monkeypatch):
    """With the SDK's exporter self-metrics on, the stock export runs, so that those metrics count every batch."""
    import observability.otlp as otlp

    def not_called(spans):
        raise AssertionError("the fast encoder ran")
    monkeypatch.setattr(otlp, "encode_spans", not_called)
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    spans = make_spans()
    with OtlpReceiver() as receiver:
        assert LeanOTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces").export(spans) == SpanExportResult.SUCCESS
    assert receiver.bodies == [stock_encode(spans).SerializePartialToString()]
