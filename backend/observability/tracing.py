"""OpenTelemetry tracing: a server span per request, OTLP/HTTP export in the background.

Switched on by ``instrument()`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
(e.g. ``http://otel-collector:4318``; ``/v1/traces`` is appended) or the per-signal
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is). Standard variables apply:

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
That thread encodes them with otlp.py: the stock bytes for about a sixth of the instructions.
Nor does it flood the logs: the exporter's complaints (an error line per failed batch, a warning per
retry) become one WARNING line per EXPORT_WARNING_INTERVAL, counting what it held back.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from random import getrandbits

from opentelemetry import context, propagate, trace
from opentelemetry.context.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from .middleware import UNMATCHED_ROUTE
from .otlp import LeanOTLPSpanExporter

EXPORT_WARNING_INTERVAL = 60.0  # seconds between two "span export failing" lines
# Where the OTLP/HTTP span exporter logs (the trace exporter passes its logger to its HTTP client).
EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")
DEFAULT_RATIO = 0.1  # seed 004: sample 10 % of new traces; a sampled parent is always followed
_SERVER = SpanKind.SERVER
_CLIENT = SpanKind.CLIENT
_INTERNAL = SpanKind.INTERNAL
# The flags the SDK gives an unsampled root span: W3C level 2's "random trace id" bit where the API has it.
_UNSAMPLED_ROOT = TraceFlags(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))


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


def _context_var():
    """The ContextVar behind OpenTelemetry's current context when it is the SDK's default runtime context, else
    None. Through it a root span is made current with one set() and ended with one reset(): what attach() and
    detach() do, minus their five Python calls."""
    runtime = getattr(context, "_RUNTIME_CONTEXT", None)
    return runtime._current_context if type(runtime) is ContextVarsRuntimeContext else None


class _ChosenTraceIds(RandomIdGenerator):
    """Random ids, except a trace id the middleware drew (and sampled) just before start_span."""

    def __init__(self):
        self._next = threading.local()

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._next, "trace_id", None)
        if trace_id is not None:
            self._next.trace_id = None
            return trace_id
        return super().generate_trace_id()


class _UnsampledRoot(NonRecordingSpan):
    """The span of a new trace that was not sampled: its ids, for whoever propagates them.

    Made with the trace id's low 64 bits only, the ones the sampler compared. The high bits and the
    span id are drawn, and its SpanContext (a tuple subclass built in Python) made, only when something
    asks: an outgoing call, a child span. Most requests do neither. No Python __init__: made as
    ``span = _UnsampledRoot(); span._low = low``, half the cost of a call with arguments.
    """

    __init__ = object.__init__
    _made = None

    def get_span_context(self) -> SpanContext:
        made = self._made
        if made is None:  # setdefault: two threads racing here both get the first one's ids
            made = self.__dict__.setdefault("_made", SpanContext(
                (getrandbits(64) << 64 | self._low) or 1, getrandbits(64) or 1, False, _UNSAMPLED_ROOT))
        return made

    def __repr__(self) -> str:
        return f"_UnsampledRoot({self.get_span_context()!r})"


def _sampled_ids(span):
    if type(span) is _UnsampledRoot:  # the common case, answered without building its context
        return None
    ctx = span.get_span_context()
    if ctx.trace_flags & 1:  # sampled (the invalid span has flags 0)
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    return None


def _reset(var, token) -> None:
    """``var.reset(token)``, as context.detach() does it: a failure is logged, not raised."""
    try:
        var.reset(token)
    except Exception:  # a context that moved between tasks
        context.detach(token)


def current_ids():
    """(trace_id, span_id) in hex of the current span if it is sampled, else None.

    Unsampled spans are left out on purpose: their trace id leads to nothing in Jaeger.
    """
    return _sampled_ids(trace.get_current_span())


class ServerTracer:
    """What ObservabilityMiddleware calls: start() before the app, finish() after it.

    With the default sampler (parent-based, trace-id ratio) the sampling decision is taken
    here, before any span exists: an unsampled request gets a NonRecordingSpan carrying a
    trace id (its parent's, or a fresh one) and the "not sampled" flag, which is exactly
    what the SDK would have made, minus the SDK's cost. Child spans and outgoing calls see
    that context, so the decision and the trace id still propagate. A sampled request
    goes through the SDK with the trace id drawn here, so the SDK's sampler agrees.
    """

    def __init__(self, tracer, exemplars: bool, ratio: float | None = None,
                 ids: _ChosenTraceIds | None = None):
        self._tracer = tracer
        self._exemplars = exemplars
        # The fast path needs to know the sampler (ratio) and to hand trace ids to the SDK (ids).
        self._bound = TraceIdRatioBased(ratio).bound if ratio is not None and ids is not None else None
        self._ids = ids
        self._fields = frozenset(f.encode() for f in propagate.get_global_textmap().fields)
        self._var = _context_var()

    @property
    def fields(self) -> frozenset[bytes]:
        """The header names the propagator reads (traceparent, tracestate, baggage), lower-case bytes."""
        return self._fields

    def start(self, scope, method: str, remote: bool | None = None):
        """Start the request's span and make it current. ``remote``: whether the request's headers hold one of
        ``fields`` (the middleware tells, from its own pass over them), None to look here.

        Returns the handle finish() takes, ``(ids, span, ...)``: ids is the (trace_id, span_id) in hex to log, or
        None when unsampled. An unsampled new trace, the common case, has ``span`` None and is ended by the
        middleware itself with ``handle[2].reset(handle[3])`` (a ContextVar's reset, as context.detach() does),
        without a call to finish()."""
        if remote is None:  # dict() and isdisjoint() run in C: a browser's dozen headers cost no more than two
            remote = not self._fields.isdisjoint(dict(scope["headers"]))
        var = self._var
        current = var.get() if var is not None else context.get_current()
        if _SPAN_KEY in current:
            # A span is current already (an outer instrumentation's server span): ours is its child, INTERNAL, and
            # the headers are the outer one's business, as OpenTelemetry's own instrumentations nest.
            span = self._tracer.start_span(method, context=current, kind=_INTERNAL)
            return _sampled_ids(span), span, context.attach(trace.set_span_in_context(span, current)), method, scope
        # The SDK's way: a custom sampler (no bound), a trace context in the headers, or no ContextVar of the
        # SDK's to set.
        if remote or self._bound is None or var is None:
            parent = propagate.extract(scope["headers"], getter=_getter)
            remote_ctx = trace.get_current_span(parent).get_span_context()
            if self._bound is not None and remote_ctx.is_valid and not remote_ctx.trace_flags & 1:
                # Parent not sampled: ParentBased drops the span; keep its trace id and state.
                span = NonRecordingSpan(SpanContext(remote_ctx.trace_id, getrandbits(64) or 1, False,
                                                    remote_ctx.trace_flags, remote_ctx.trace_state))
            else:
                span = self._tracer.start_span(method, context=parent, kind=_SERVER)
            token = context.attach(trace.set_span_in_context(span, parent))
            return _sampled_ids(span), span, token, method, scope
        # A new trace: TraceIdRatioBased compares the trace id's low 64 bits with its bound; draw those first.
        # Made current with one set() of the ContextVar (undone by one reset()): what trace.set_span_in_context()
        # and context.attach() do, minus their Python calls.
        low = getrandbits(64)
        if low >= self._bound:
            span = _UnsampledRoot()
            span._low = low
            return None, None, var, var.set(Context({**current, _SPAN_KEY: span}))
        self._ids._next.trace_id = (getrandbits(64) << 64 | low) or 1
        # The current context (no span in it) as the parent: the SDK need not look it up, three times.
        span = self._tracer.start_span(method, context=current, kind=_SERVER)
        return _sampled_ids(span), span, var, method, scope, var.set(Context({**current, _SPAN_KEY: span}))

    def finish(self, handle, route: str, status: int, error: BaseException | None):
        """End the span; return an exemplar for the latency histogram when sampled."""
        if handle[1] is None:  # an unsampled new trace (the middleware ends those itself, see start())
            _reset(handle[2], handle[3])
            return None
        ids, span, token, method, scope = handle[:5]
        if token is self._var:  # made current by start()'s own set(): reset it, as context.detach() would
            _reset(token, handle[5])
        else:
            context.detach(token)
        if not span.is_recording():  # not sampled: nothing to name or export
            return None
        # url.path is kept (it is what was asked for); the query string is not (it may hold secrets).
        attributes = {"http.request.method": method, "url.path": scope["path"],
                      "url.scheme": scope.get("scheme", "http"), "http.response.status_code": status}
        if route != UNMATCHED_ROUTE:  # semantic conventions: "{method} {route}", else "{method}"
            span.update_name(f"{method} {route}")
            attributes["http.route"] = route
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        elif status >= 500:
            attributes["error.type"] = str(status)
        span.set_attributes(attributes)  # one call: the SDK takes a lock and checks per call
        if error is not None:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR, type(error).__qualname__)
        elif status >= 500:
            span.set_status(StatusCode.ERROR)
        span.end()
        if not self._exemplars:
            return None
        return {"trace_id": ids[0] if ids else format(span.get_span_context().trace_id, "032x")}


class ExportComplaints(logging.Filter):
    """At most one WARNING per ``interval`` for the exporter's warnings and errors, never an error line.

    An unreachable collector is an operational warning, not an application error: an error line per
    batch (every few seconds under traffic) would fill the error panels and page on logs. The line
    that passes says how many complaints were held back since the previous one.
    """

    def __init__(self, interval: float = EXPORT_WARNING_INTERVAL):
        super().__init__()
        self.interval = interval
        self._lock = threading.Lock()
        self._next = 0.0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._held += 1
                return False
            self._next = now + self.interval
            held, self._held = self._held, 0
        record.msg = (f"span export failing (one line per {self.interval:g} s; {held} more held back since "
                      f"the last): {record.getMessage()}")
        record.args = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_exporter_logs(interval: float = EXPORT_WARNING_INTERVAL) -> ExportComplaints:
    """Install one ExportComplaints on the exporter's loggers (once; returns the installed one)."""
    loggers = [logging.getLogger(name) for name in EXPORTER_LOGGERS]
    for logger in loggers:
        for existing in logger.filters:
            if isinstance(existing, ExportComplaints):
                return existing
    complaints = ExportComplaints(interval)
    for logger in loggers:
        logger.addFilter(complaints)
    return complaints


def setup_tracing(service: str, version: str = "0.0.0", exemplars: bool = True) -> ServerTracer:
    """Install the global TracerProvider (OTLP/HTTP, batched) and return the middleware's tracer.

    ``exemplars``: attach the trace id of sampled requests to the latency histogram.
    """
    attrs = {"service.version": version}
    if not os.getenv("OTEL_SERVICE_NAME"):
        attrs["service.name"] = service
    sampler = ratio = ids = None  # None: the SDK reads OTEL_TRACES_SAMPLER / _ARG
    if os.getenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio") == "parentbased_traceidratio":
        ratio = float(os.getenv("OTEL_TRACES_SAMPLER_ARG") or DEFAULT_RATIO)
        sampler, ids = ParentBasedTraceIdRatio(ratio), _ChosenTraceIds()
    provider = TracerProvider(resource=Resource.create(attrs), sampler=sampler, id_generator=ids)
    timeout = None if (os.getenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                       or os.getenv("OTEL_EXPORTER_OTLP_TIMEOUT")) else 3.0
    # Queue (2048 spans) and batch sizes come from OTEL_BSP_* or the SDK's defaults.
    provider.add_span_processor(BatchSpanProcessor(LeanOTLPSpanExporter(timeout=timeout)))
    quiet_exporter_logs()
    trace.set_tracer_provider(provider)
    return ServerTracer(trace.get_tracer("observability.http"), exemplars, ratio, ids)


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
