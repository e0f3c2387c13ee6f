"""Vigil instrumentation for ASGI / FastAPI services (distribution: vigil-stack-instrumentation).

It imports nothing from the application. One call switches everything on:

    from observability import instrument
    instrument(app, service="my-api", version="1.2.3")

That adds the HTTP metrics middleware (with request ids and a JSON access log), a
``/metrics`` endpoint, JSON logging on stdout and, when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, OpenTelemetry tracing (the ``tracing`` extra). docs/instrumenting-your-app.md
is the guide; the wiring between the modules is all in this function.
"""
from __future__ import annotations

import logging
import os
import warnings

from . import exposition, logs, metrics
from .exposition import metrics_endpoint
from .extras import MissingExtra, require
from .logs import configure_logging
from .middleware import ObservabilityMiddleware

# The version, in this one place: pyproject.toml reads it from here ([tool.hatch.version]).
__version__ = "0.1.0"

__all__ = ["__version__", "instrument", "metrics", "configure_logging", "ObservabilityMiddleware", "MissingExtra"]


def instrument(app, *, service: str, version: str = "0.0.0", access_log: bool = True,
               request_ids: bool = True, metrics_path: str = "/metrics", log_level: str | None = None,
               tracing: bool | None = None, framework_telemetry: bool = False) -> None:
    """Instrument a Starlette/FastAPI ``app`` in place.

    ``access_log``: one JSON line per request (implies ``request_ids``).
    ``request_ids``: take X-Request-ID or make one; in every log line and the response.
    ``tracing=None`` means "on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set".
    ``framework_telemetry``: keep FastAPI's own OpenTelemetry telemetry (recent versions
    make server spans and HTTP metrics whenever a global provider exists). Off by default:
    this middleware already records both, and FastAPI checks its providers on every request.
    """
    configure_logging(service=service, level=log_level or os.getenv("LOG_LEVEL", "INFO"))
    metrics.BUILD_INFO.labels(service=service, version=version).set(1)
    tracer = None
    if tracing is None:
        tracing = bool(os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT") or os.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    if tracing:
        require("tracing", "Tracing is on (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set or tracing=True)",
                "the OpenTelemetry SDK", "opentelemetry.sdk.trace",
                "opentelemetry.exporter.otlp.proto.http.trace_exporter")
        from .tracing import current_ids, setup_tracing

        # Exemplars exist only in single-process prometheus_client (no PROMETHEUS_MULTIPROC_DIR).
        exemplars = exposition.multiproc_dir() is None
        tracer = setup_tracing(service=service, version=version, exemplars=exemplars)
        logs.set_trace_ids(current_ids)        # log lines carry trace_id / span_id
        exposition.set_exemplars(exemplars)    # /metrics answers OpenMetrics to scrapers that accept it
    if not framework_telemetry:
        _disable_framework_telemetry(app)
    app.add_route(metrics_path, metrics_endpoint, include_in_schema=False)
    app.add_middleware(ObservabilityMiddleware, access_log=access_log, request_ids=request_ids,
                       tracer=tracer, skip_paths=(metrics_path,))


# Every switch of FastAPI's own telemetry (FastAPI >= 0.142, the private ``app._telemetry`` dict): server
# and operation spans, HTTP metrics, exception/validation log records, and exporters it would add itself
# from the OTLP environment variables (auto_configure).
FRAMEWORK_TELEMETRY_SWITCHES = ("tracing", "metrics", "logs", "operation_spans", "auto_configure")
FASTAPI_TELEMETRY_SINCE = (0, 142)


def _fastapi_version(app) -> tuple[int, ...] | None:
    """FastAPI's version when ``app`` is a FastAPI application, else None."""
    try:
        import fastapi
    except ImportError:
        return None
    if not isinstance(app, fastapi.FastAPI):
        return None
    parts = []
    for piece in fastapi.__version__.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _disable_framework_telemetry(app) -> None:
    """Switch off FastAPI's own OpenTelemetry spans, metrics, log records and exporters.

    They would duplicate this middleware's server span and HTTP histogram, and FastAPI asks
    its providers whether to record on every request, even when no provider is set.
    Older FastAPI and plain Starlette have no such setting: nothing to do. A FastAPI that
    should have it but has no ``app._telemetry`` (a renamed private attribute) gets a loud
    warning instead of a silent no-op.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        for key in FRAMEWORK_TELEMETRY_SWITCHES:
            config[key] = False
        return
    version = _fastapi_version(app)
    if version is not None and version >= FASTAPI_TELEMETRY_SINCE:
        message = (f"FastAPI {'.'.join(map(str, version))} has its own OpenTelemetry telemetry but no "
                   "app._telemetry dict: Vigil cannot switch it off, so requests may get a second server "
                   "span and HTTP histogram. Pass FastAPI(telemetry={'tracing': False, 'metrics': False, "
                   "'logs': False, 'operation_spans': False, 'auto_configure': False}) or pin FastAPI.")
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        logging.getLogger("observability").warning(message)
