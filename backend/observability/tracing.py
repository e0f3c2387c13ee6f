"""OpenTelemetry tracing: a server span per request, OTLP/HTTP export in the background.

Switched on by ``instrument()`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
(e.g. ``http://jaeger:4318``; ``/v1/traces`` is appended). Standard variables apply:

    OTEL_SERVICE_NAME            overrides the service name given to setup_tracing()
    OTEL_TRACES_SAMPLER(_ARG)    default here: parentbased_traceidratio at 0.1
    OTEL_BSP_*                   batch processor queue size and delays
    OTEL_EXPORTER_OTLP_TIMEOUT   per-export timeout, 3 s here unless set

Why not opentelemetry-instrumentation-fastapi: it costs about a quarter of the
throughput of a small endpoint. This middleware does the part we need on the API
directly: extract W3C ``traceparent``, start one SERVER span named after the route
template, make it current (so child spans and log lines see it), end it.

An unreachable collector never slows a request: spans go to a bounded queue that a
background thread drains; when the queue is full, spans are dropped, not waited on.
"""
from __future__ import annotations

import os

from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from opentelemetry.trace import SpanKind, StatusCode

from . import exposition, logs
from .middleware import UNMATCHED_ROUTE

DEFAULT_RATIO = 0.1  # seed 004: sample 10 % of new traces; a sampled parent is always followed
_SERVER = SpanKind.SERVER
_CLIENT = SpanKind.CLIENT


class _AsgiHeaders(Getter):
    """Reads propagation headers straight from the ASGI scope's (bytes, bytes) list."""

    def get(self, carrier, key):
        name = key.encode()
        for k, v in carrier:
            if k == name:
                return [v.decode("latin-1")]
        return None

    def keys(self, carrier):
        return [k.decode("latin-1") for k, _ in carrier]


_getter = _AsgiHeaders()


def current_ids():
    """(trace_id, span_id) in hex of the current span if it is sampled, else None.

    Unsampled spans are left out on purpose: their trace id leads to nothing in Jaeger.
    """
    ctx = trace.get_current_span().get_span_context()
    if ctx.trace_flags & 1:  # sampled (the invalid span has flags 0)
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    return None


class ServerTracer:
    """What ObservabilityMiddleware calls: start() before the app, finish() after it."""

    def __init__(self, tracer, exemplars: bool):
        self._tracer = tracer
        self._exemplars = exemplars

    def start(self, scope, method: str):
        parent = propagate.extract(scope["headers"], getter=_getter)
        span = self._tracer.start_span(method, context=parent, kind=_SERVER)
        token = context.attach(trace.set_span_in_context(span, parent))
        return span, token, method, scope

    def finish(self, handle, route: str, status: int, error: BaseException | None):
        """End the span; return an exemplar for the latency histogram when sampled."""
        span, token, method, scope = handle
        context.detach(token)
        if not span.is_recording():  # not sampled: nothing to name, nothing to export
            return None
        if route != UNMATCHED_ROUTE:  # semantic conventions: "{method} {route}", else "{method}"
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        # url.path is kept (it is what was asked for); the query string is not (it may hold secrets).
        span.set_attributes({"http.request.method": method, "url.path": scope["path"],
                             "url.scheme": scope.get("scheme", "http"),
                             "http.response.status_code": status})
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(StatusCode.ERROR, type(error).__qualname__)
        elif status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(StatusCode.ERROR)
        span.end()
        if not self._exemplars:
            return None
        return {"trace_id": format(span.get_span_context().trace_id, "032x")}


def setup_tracing(service: str, version: str = "0.0.0") -> ServerTracer:
    """Install the global TracerProvider (OTLP/HTTP, batched) and return the middleware's tracer."""
    attrs = {"service.version": version}
    if not os.getenv("OTEL_SERVICE_NAME"):
        attrs["service.name"] = service
    sampler = None  # None: the SDK reads OTEL_TRACES_SAMPLER / _ARG
    if not os.getenv("OTEL_TRACES_SAMPLER"):
        sampler = ParentBasedTraceIdRatio(float(os.getenv("OTEL_TRACES_SAMPLER_ARG") or DEFAULT_RATIO))
    provider = TracerProvider(resource=Resource.create(attrs), sampler=sampler)
    timeout = None if (os.getenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                       or os.getenv("OTEL_EXPORTER_OTLP_TIMEOUT")) else 3.0
    # Queue (2048 spans) and batch sizes come from OTEL_BSP_* or the SDK's defaults.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(timeout=timeout)))
    trace.set_tracer_provider(provider)
    logs._trace_ids = current_ids
    # Exemplars exist only in single-process prometheus_client (no PROMETHEUS_MULTIPROC_DIR).
    exemplars = not os.getenv("PROMETHEUS_MULTIPROC_DIR")
    exposition.exemplars_wanted = exemplars  # /metrics then answers OpenMetrics to scrapers that accept it
    return ServerTracer(trace.get_tracer("observability.http"), exemplars)


def disable_framework_tracing(app) -> None:
    """Switch off FastAPI's own request spans when its version has them.

    Recent FastAPI versions start a server span (plus per-dependency and serialization
    spans) as soon as a global TracerProvider exists. This middleware already makes the
    server span, so the framework's would be a duplicate sibling and cost throughput.
    Older FastAPI and plain Starlette have no such setting: nothing to do.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict) and "tracing" in config:
        config["tracing"] = False


def trace_engine(engine) -> None:
    """Child spans for the SQL statements of a SQLAlchemy ``engine``.

    Span name "{operation} {database}" (e.g. "SELECT vigil"), attributes db.system,
    db.namespace and db.operation.name. Neither the statement's parameters nor its
    text are recorded: literals written into raw SQL would leak otherwise.
    Statements run outside a sampled span (start-up, unsampled requests) make none.
    """
    from sqlalchemy import event

    tracer = trace.get_tracer("observability.db")
    url = engine.url
    system = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql",
              "mariadb": "mariadb", "mssql": "mssql", "oracle": "oracle"}.get(url.get_backend_name(), "other_sql")
    database = url.database or ""
    if system == "sqlite":
        database = os.path.splitext(os.path.basename(database))[0] or "memory"
    base_attrs = {"db.system": system, "db.namespace": database}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, exec_context, executemany):
        if exec_context is None or not trace.get_current_span().is_recording():
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(f"{operation} {database}".strip(), kind=_CLIENT,
                                 attributes={**base_attrs, "db.operation.name": operation})
        exec_context._vigil_span = span

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, exec_context, executemany):
        span = getattr(exec_context, "_vigil_span", None)
        if span is not None:
            exec_context._vigil_span = None
            span.end()

    @event.listens_for(engine, "handle_error")
    def _error(exception_context):
        exec_context = exception_context.execution_context
        span = getattr(exec_context, "_vigil_span", None)
        if span is not None:
            exec_context._vigil_span = None
            error = exception_context.original_exception
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(StatusCode.ERROR, type(error).__qualname__)
            span.end()
