"""Vigil instrumentation for ASGI / FastAPI services.

Copy this folder into your project: it imports nothing from the application.
One call switches everything on:

    from observability import instrument
    instrument(app, service="my-api", version="1.2.3")

That adds the HTTP metrics middleware (with request ids and a JSON access
log), a ``/metrics`` endpoint, JSON logging on stdout and, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, OpenTelemetry tracing.
"""
from __future__ import annotations

import os

from . import metrics
from .exposition import metrics_endpoint
from .logs import configure_logging
from .middleware import ObservabilityMiddleware

__all__ = ["instrument", "metrics", "configure_logging", "ObservabilityMiddleware"]


def instrument(app, *, service: str, version: str = "0.0.0", access_log: bool = True,
               metrics_path: str = "/metrics", log_level: str | None = None,
               tracing: bool | None = None) -> None:
    """Instrument a Starlette/FastAPI ``app`` in place.

    ``tracing=None`` means "on when OTEL_EXPORTER_OTLP_ENDPOINT is set".
    """
    configure_logging(service=service, level=log_level or os.getenv("LOG_LEVEL", "INFO"))
    metrics.BUILD_INFO.labels(service=service, version=version).set(1)
    tracer = None
    if tracing is None:
        tracing = bool(os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if tracing:
        from .tracing import disable_framework_tracing, setup_tracing  # lazily: the SDK is optional

        tracer = setup_tracing(service=service, version=version)
        disable_framework_tracing(app)  # our middleware makes the server span; no duplicate
    app.add_route(metrics_path, metrics_endpoint, include_in_schema=False)
    app.add_middleware(ObservabilityMiddleware, access_log=access_log, tracer=tracer,
                       skip_paths=(metrics_path,))
