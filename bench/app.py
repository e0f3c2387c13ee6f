"""The benchmark's app: one small JSON endpoint, instrumented per BENCH_VARIANT.

    none            no instrumentation
    metrics         Vigil's middleware, metrics only (no request ids, no access log)
    full            Vigil's instrument(): metrics + request ids + JSON access log
    full+tracing    the same with OpenTelemetry tracing at its default sampling
    instrumentator  prometheus-fastapi-instrumentator, for comparison
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from fastapi import FastAPI  # noqa: E402

variant = os.environ.get("BENCH_VARIANT", "none")
app = FastAPI()


@app.get("/api/items/{item_id}")
async def item(item_id: int):
    return {"id": item_id, "name": f"item {item_id}", "tags": ["a", "b"], "price": 12.5}


if variant == "metrics":
    from observability import ObservabilityMiddleware, exposition

    app.add_route("/metrics", exposition.metrics_endpoint)
    app.add_middleware(ObservabilityMiddleware, access_log=False, request_ids=False)
elif variant in ("full", "full+tracing"):
    from observability import instrument

    instrument(app, service="bench", tracing=(variant == "full+tracing"))
elif variant == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app)
