"""The benchmark's app: one small JSON endpoint, instrumented per BENCH_VARIANT.

    none              no instrumentation, FastAPI as is (its own telemetry on: the "ON" baseline)
    none-telemetry-off  no instrumentation, FastAPI's own telemetry off (as instrument() does): the fair,
                      "OFF" baseline every ratio is headlined against
    metrics           Vigil's instrument(): metrics only (no request ids, no access log)
    full              Vigil's instrument(): metrics + request ids + JSON access log
    full+tracing      the same with OpenTelemetry tracing at its default sampling (10 %)
    instrumentator    prometheus-fastapi-instrumentator with its defaults
    starlette-exporter  starlette-exporter's PrometheusMiddleware with its defaults
    otel-fastapi      OpenTelemetry's FastAPIInstrumentor, spans sampled (parent-based) at
                      OTEL_TRACES_SAMPLER_ARG (default 0.1) and exported like Vigil's tracing (OTLP/HTTP, batched)
    fastapi-otel-prometheus  FastAPI's own telemetry, metrics only, into an OpenTelemetry SDK MeterProvider
                      read by opentelemetry-exporter-prometheus (its /metrics served by prometheus_client)

The peers run with FastAPI's own telemetry off, as Vigil's variants do (instrument() switches it off),
except fastapi-otel-prometheus, which is that telemetry (its tracing and logs off: metrics only).
The backend folder comes from PYTHONPATH (bench/instrumentation.py sets it).
"""
import os

from fastapi import FastAPI

variant = os.environ.get("BENCH_VARIANT", "none")
OFF = {"tracing": False, "metrics": False, "logs": False}
if variant in ("none", "metrics", "full", "full+tracing"):  # instrument() switches it off itself
    telemetry = None
elif variant == "fastapi-otel-prometheus":
    telemetry = {"tracing": False, "metrics": True, "logs": False}
else:
    telemetry = OFF
app = FastAPI(telemetry=telemetry)


@app.get("/api/items/{item_id}")
async def item(item_id: int):
    return {"id": item_id, "name": f"item {item_id}", "tags": ["a", "b"], "price": 12.5}


if variant in ("metrics", "full", "full+tracing"):
    from observability import instrument

    full = variant != "metrics"
    instrument(app, service="bench", access_log=full, request_ids=full, tracing=(variant == "full+tracing"))
elif variant == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app)
elif variant == "starlette-exporter":
    from starlette_exporter import PrometheusMiddleware, handle_metrics

    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)
elif variant == "otel-fastapi":
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "0.1"))))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(app)
elif variant == "fastapi-otel-prometheus":
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.responses import Response

    otel_metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    app.add_route("/metrics", lambda request: Response(generate_latest(), media_type=CONTENT_TYPE_LATEST))
elif variant not in ("none", "none-telemetry-off"):
    raise SystemExit(f"unknown BENCH_VARIANT {variant!r}")
