"""The benchmark's app: one small JSON endpoint, instrumented per BENCH_VARIANT.

    none              no instrumentation
    none-telemetry-off  no instrumentation, FastAPI's own OpenTelemetry hooks off (as instrument() does):
                      shows what the middleware itself costs
    metrics           Vigil's instrument(): metrics only (no request ids, no access log)
    full              Vigil's instrument(): metrics + request ids + JSON access log
    full+tracing      the same with OpenTelemetry tracing at its default sampling (10 %)
    instrumentator    prometheus-fastapi-instrumentator with its defaults
    starlette-exporter  starlette-exporter's PrometheusMiddleware with its defaults
    otel-fastapi      OpenTelemetry's FastAPIInstrumentor, spans sampled at 10 % and exported
                      like Vigil's tracing (OTLP/HTTP, batched)

The backend folder comes from PYTHONPATH (bench/instrumentation.py sets it).
"""
import os

from fastapi import FastAPI

variant = os.environ.get("BENCH_VARIANT", "none")
telemetry = {"tracing": False, "metrics": False, "logs": False} if variant == "none-telemetry-off" else None
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

    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(0.1))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(app)
elif variant not in ("none", "none-telemetry-off"):
    raise SystemExit(f"unknown BENCH_VARIANT {variant!r}")
