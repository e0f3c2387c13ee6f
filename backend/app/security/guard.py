"""Request guard (pure ASGI): body size limit, probe detection, client blocking.

A probe (path traversal, SQL-injection patterns in the path or query) is a
security event. A client that causes ``block_after_events`` events within
``block_window_seconds`` is refused with 403 for ``block_seconds``.
Other parts (rate limiter, API keys) report their events through ``record_event``.
"""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import unquote

import anyio

from .. import metrics
from ..store import StoreUnavailable
from .clients import client_key

log = logging.getLogger("security")

PROBES = (
    ("path_traversal", re.compile(r"(\.\./|\.\.\\|/etc/passwd|\bwin\.ini\b)", re.I)),
    ("sql_injection", re.compile(r"('\s*(or|and)\s+'?\d|\bunion\s+(all\s+)?select\b|;\s*drop\s+table|--\s*$|\bsleep\s*\(\d)", re.I)),
)


class SecurityGuard:
    def __init__(self, store, block_after_events: int, window_seconds: int, block_seconds: int):
        self.store = store
        self.block_after = block_after_events
        self.window = window_seconds
        self.block_seconds = block_seconds

    def record_event(self, client: str, event_type: str) -> None:
        metrics.SECURITY_EVENTS.labels(event_type).inc()
        log.warning("security event", extra={"event_type": event_type})
        count = self.store.incr(f"secev:{client}", self.window)
        if count == self.block_after:  # exactly once per window, so a block is counted once
            self.store.set(f"block:{client}", "1", self.block_seconds)
            metrics.SECURITY_BLOCKS.inc()
            log.warning("client blocked", extra={"block_seconds": self.block_seconds})

    def blocked_for(self, client: str) -> int:
        return self.store.ttl(f"block:{client}")

    def check(self, client: str, probe: str | None) -> int:
        """Seconds the client stays blocked (0 = let it in), after recording a probe if there was one."""
        left = self.blocked_for(client)
        if not left and probe:
            self.record_event(client, probe)
        return left

    def unblock(self, client: str) -> None:
        self.store.delete(f"block:{client}")
        self.store.delete(f"secev:{client}")


def probe_type(path: str, query: str) -> str | None:
    target = unquote(unquote(path)) + "?" + unquote(unquote(query.replace("+", " ")))
    for kind, pattern in PROBES:
        if pattern.search(target):
            return kind
    return None


async def _json(send, status: int, body: dict, headers=()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    def __init__(self, app, guard: SecurityGuard, max_body_bytes: int, exempt=("/health", "/metrics"),
                 monitoring=("/ready",)):
        self.app = app
        self.guard = guard
        self.max_body = max_body_bytes
        # Never checked: liveness touches nothing; /metrics stays open to a blocked address, since Prometheus
        # may share it (NAT, one host) and an attack is when its data counts most (the public proxy must not
        # route /metrics: docs/production.md).
        self.exempt = frozenset(exempt)
        self.monitoring = frozenset(monitoring)  # a blocked client is refused, but nothing here is a probe
        # A remote store (Redis) is called from a thread, never on the event loop, and by at most
        # this many threads at once, so a frozen Redis cannot take the whole thread pool.
        self.remote = getattr(guard.store, "remote", False)
        self.limiter = anyio.CapacityLimiter(8)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        client = client_key(scope)
        kind = None if scope["path"] in self.monitoring else probe_type(
            scope.get("raw_path", b"").decode("latin-1") or scope["path"],
            scope.get("query_string", b"").decode("latin-1"))
        try:
            if self.remote:
                left = await anyio.to_thread.run_sync(self.guard.check, client, kind, limiter=self.limiter)
            else:
                left = self.guard.check(client, kind)
        except StoreUnavailable:
            await _json(send, 503, {"detail": "security store unavailable; retry later"},
                        [(b"retry-after", str(StoreUnavailable.retry_after).encode())])
            return
        if left:
            metrics.SECURITY_BLOCKED_REQUESTS.inc()
            log.warning("request from a blocked client refused", extra={"retry_after_seconds": left})
            await _json(send, 403, {"detail": "client blocked after repeated security events",
                                    "retry_after_seconds": left},
                        [(b"retry-after", str(left).encode())])
            return
        length = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = value
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(send)
            return
        if chunked is None:  # a declared length within the limit, or no body at all (most GETs)
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked upload): buffer up to the limit, then replay it to the app.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await self._too_large(send)
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        await _json(send, 413, {"detail": f"request body larger than {self.max_body} bytes"})
