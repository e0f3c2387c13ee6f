"""Pure ASGI middleware: HTTP metrics, request ids, access log, server spans.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so streaming responses, background
tasks and contextvars behave, and the per-request cost stays a few microseconds.
"""
from __future__ import annotations

import logging
import os
import re
import time

from . import logs, metrics
from .context import request_id

UNMATCHED_ROUTE = "unmatched"  # shared http_route of every request no route matched
# OpenTelemetry folds unknown methods into _OTHER so a client cannot mint series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
_INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'
log = logging.getLogger("app")


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
        self.skip_paths = frozenset(skip_paths)
        self._children = {}  # (method, route, status) -> histogram child, to skip labels() lookups
        self._active = {}

    def _histogram(self, method, route, status):
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = metrics.HTTP_REQUEST_DURATION.labels(method, route, status)
            self._children[key] = child
        return child

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return

        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        status = 500
        started = False
        token = None
        if self.request_ids:
            rid = None
            for name, value in scope["headers"]:
                if name == b"x-request-id":
                    candidate = value.decode("latin-1")
                    rid = candidate if _VALID_REQUEST_ID.match(candidate) else None
                    break
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

        span = self.tracer.start(scope, method) if self.tracer else None
        active = self._active.get(method)
        if active is None:
            active = self._active[method] = metrics.HTTP_ACTIVE_REQUESTS.labels(method)
        active.inc()
        start = time.perf_counter()
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
            duration = time.perf_counter() - start
            active.dec()
            route = route_template(scope)
            if self.access_log:  # before finish(): the span is still current, so the line gets its trace_id
                logs.access(f"{method} {route} {status}",
                            {"method": method, "route": route, "path": scope["path"],
                             "status": status, "duration_ms": round(duration * 1000, 3)},
                            logging.ERROR if status >= 500 else logging.INFO,
                            # the span's own ids, with no lookup of the current context
                            self.tracer.log_ids(span) if span is not None else logs.LOOK_UP_IDS)
            exemplar = self.tracer.finish(span, route, status, error) if span is not None else None
            child = self._histogram(method, route, str(status))
            if exemplar:
                child.observe(duration, exemplar)
            else:
                child.observe(duration)
            if token is not None:
                request_id.reset(token)
