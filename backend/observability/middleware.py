"""Pure ASGI middleware: HTTP metrics, request ids, access log, server spans.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so streaming responses, background
tasks and contextvars behave, and the per-request cost stays a few microseconds.
"""
from __future__ import annotations

import logging
import os
import re
import time
from bisect import bisect_left

from prometheus_client.samples import Exemplar
from prometheus_client.values import MutexValue

from . import logs, metrics
from .context import request_id

UNMATCHED_ROUTE = "unmatched"  # shared http_route of every request no route matched
# OpenTelemetry folds unknown methods into _OTHER so a client cannot mint series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
_INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'
log = logging.getLogger("app")
perf_counter = time.perf_counter


_IN_FLIGHT: dict[str, set] = {}  # method -> the requests in flight (single-process mode)


class _GaugeSet:
    """The in-flight gauge through its public API (multi-process mode): add() is inc(), discard() is dec()."""

    def __init__(self, child):
        self.child = child

    def add(self, _request):
        self.child.inc()

    def discard(self, _request):
        self.child.dec()


def route_template(scope) -> str:
    """The matched route's template (``/api/workflows/{workflow_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path and "endpoint" in scope:
        # A plain Starlette route (FastAPI's /docs, /redoc, /openapi.json): it matched but did not put
        # itself in the scope. Found by its endpoint; a 404 has none, so scanners cost nothing.
        endpoint = scope["endpoint"]
        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        path = next((r.path for r in routes if getattr(r, "endpoint", None) is endpoint), None)
    if not path:
        return UNMATCHED_ROUTE
    return scope.get("root_path", "") + path if scope.get("root_path") else path


class ObservabilityMiddleware:
    """HTTP metrics always; request ids, the access log and server spans when asked for.

    ``request_ids``: take X-Request-ID (or make one), expose it to logs, echo it in the response.
    ``access_log``: one JSON line per request (implies request ids).
    ``tracer``: a tracing.ServerTracer, or None.
    """

    def __init__(self, app, access_log: bool = True, tracer=None, skip_paths=("/metrics",),
                 request_ids: bool = True):
        self.app = app
        self.access_log = access_log
        self.request_ids = request_ids or access_log
        self.tracer = tracer
        self._watched = frozenset({b"x-request-id", *tracer.fields}) if tracer is not None else frozenset()
        self.skip_paths = frozenset(skip_paths)
        self._children = {}  # (method, route, status as int) -> _series(): skips labels() lookups
        self._active = {}  # method -> the requests in flight (see _active_value)

    def _series(self, key):
        """The histogram child of (method, route, status) and, when this prometheus_client's layout is the
        known one, its sum, buckets and bounds: an observation then costs two increments instead of
        observe()'s five Python calls (the same values, so the same exposition)."""
        method, route, status = key
        child = metrics.HTTP_REQUEST_DURATION.labels(method, route, str(status))
        parts = (getattr(child, "_sum", None), getattr(child, "_buckets", None), getattr(child, "_upper_bounds", None))
        fast = (None not in parts and len(parts[1]) == len(parts[2]) and parts[2][-1] == float("inf")
                and all(type(v) is MutexValue for v in (parts[0], *parts[1])))
        # Single-process values (MutexValue) are incremented in place under their own lock, as their inc() does;
        # multi-process ones (files) keep observe(). Last: the access line's message, made once per series.
        message = f"{method} {route} {status}"
        series = self._children[key] = (child, *parts, message) if fast else (child, None, None, None, message)
        return series

    def _active_value(self, method):
        """What a request joins while in flight: in single-process mode a set shared by every instance, whose
        size the gauge child reports (set_function), so that entering and leaving are one set.add() and one
        set.discard() (atomic, no lock to take). In multi-process mode the gauge's own inc() and dec()."""
        child = metrics.HTTP_ACTIVE_REQUESTS.labels(method)
        if type(getattr(child, "_value", None)) is MutexValue:
            requests = _IN_FLIGHT.get(method)
            if requests is None:
                requests = _IN_FLIGHT[method] = set()
                child.set_function(requests.__len__)
        else:
            requests = _GaugeSet(child)
        self._active[method] = requests
        return requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return

        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        status = 500
        started = False
        token = None
        remote = None  # whether a trace context came in the headers (None: the tracer looks itself)
        if self.request_ids:
            rid = None
            if self.tracer is None:
                for name, value in scope["headers"]:
                    if name == b"x-request-id":
                        candidate = value.decode("latin-1")
                        rid = candidate if _VALID_REQUEST_ID.match(candidate) else None
                        break
            else:  # one pass for both: the request id, and the propagator's fields (traceparent...)
                remote = False
                watched = self._watched
                for name, value in scope["headers"]:
                    if name in watched:
                        if name != b"x-request-id":
                            remote = True
                        elif rid is None:  # the first X-Request-ID, as above
                            candidate = value.decode("latin-1")
                            rid = candidate if _VALID_REQUEST_ID.match(candidate) else ""
            rid = rid or os.urandom(16).hex()  # 4x cheaper than uuid4().hex
            token = request_id.set(rid)
            rid_header = (b"x-request-id", rid.encode())

            async def send_wrapper(message):
                nonlocal status, started
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                    message["headers"] = [*message.get("headers", ()), rid_header]
                await send(message)
        else:
            async def send_wrapper(message):
                nonlocal status, started
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                await send(message)

        span = self.tracer.start(scope, method, remote) if self.tracer else None
        active = self._active.get(method)
        if active is None:  # (an empty set is falsy: no `or` here)
            active = self._active_value(method)
        active.add(send_wrapper)  # this request's own object
        start = perf_counter()
        error = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # counted, logged with the request's ids, answered 500, re-raised
            error = exc
            metrics.UNHANDLED_EXCEPTIONS.labels(type(exc).__name__).inc()
            log.error("unhandled exception", exc_info=exc, extra={
                "exception_type": type(exc).__name__, "method": method, "route": route_template(scope)})
            setattr(exc, logs.LOGGED, True)
            if not started:  # our 500 carries X-Request-ID; the server's handler then sends nothing
                await send_wrapper({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(_INTERNAL_ERROR)).encode())]})
                await send_wrapper({"type": "http.response.body", "body": _INTERNAL_ERROR})
            raise
        finally:
            duration = perf_counter() - start
            active.discard(send_wrapper)
            matched = scope.get("route")
            route = getattr(matched, "path", None)
            if not route or scope.get("root_path"):
                route = route_template(scope)
            key = (method, route, status)
            series = self._children.get(key) or self._series(key)
            if self.access_log:  # before finish(): the span is still current, so the line gets its trace_id
                # the span's own ids (the first item of start()'s handle), with no lookup of the current context
                logs.request_line(method, route, scope["path"], status, duration,
                                  span[0] if span is not None else logs.LOOK_UP_IDS, series[4], rid)
            if span is None:
                exemplar = None
            elif span[1] is None:  # an unsampled new trace: only its context to reset (see ServerTracer.start)
                exemplar = None
                try:
                    span[2].reset(span[3])
                except Exception:  # as context.detach() does: a context that moved between tasks, logged
                    self.tracer.finish(span, route, status, error)
            else:
                exemplar = self.tracer.finish(span, route, status, error)
            if series[1] is None:
                series[0].observe(duration, exemplar) if exemplar else series[0].observe(duration)
            else:  # Histogram.observe(): the sum, then the first bucket whose bound is >= duration
                # Each under its own lock, as MutexValue.inc() does; acquire()/release() cost half a `with`.
                value = series[1]
                lock = value._lock
                lock.acquire()
                try:
                    value._value += duration
                finally:
                    lock.release()
                value = series[2][bisect_left(series[3], duration)]
                lock = value._lock
                lock.acquire()
                try:
                    value._value += 1
                    if exemplar:  # what observe() stores: {"trace_id": 32 hex digits} passes its validation
                        value._exemplar = Exemplar(exemplar, duration, time.time())
                finally:
                    lock.release()
            if token is not None:
                request_id.reset(token)
