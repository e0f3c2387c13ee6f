"""The gunicorn worker class (gunicorn.conf.py): uvicorn's h11 worker with bounded connections.

uvicorn keeps a connection that never sends a request head open forever, and a head sent one byte at a time
(slowloris) likewise; once a worker holds as many sockets as its open-file limit allows, accept() fails and
asyncio logs a traceback per attempt. Here each worker:
- gives a client HTTP_HEAD_TIMEOUT_SECONDS (default 10) from the connection, or from the end of the previous
  response, to send a complete request head, then closes the connection;
- holds at most ``worker_connections`` (gunicorn, default 1000) connections, fewer when its open-file limit is
  lower: the limit minus ``backlog`` (asyncio accepts up to that many sockets in one go, before any of them
  is seen here) minus FD_RESERVE. A new connection over the cap
  closes the oldest one still waiting for its head, so a flood of idle sockets cannot lock real clients out;
  when every connection is busy with a request, the new one is closed;
- refuses a request head over 16 KiB with 400, also when it arrives in one read (h11's own bound holds only
  for heads split across reads);
- logs "socket.accept() out of system resource" (asyncio) at most once a minute, without a traceback.
"""
from __future__ import annotations

import logging
import os
import resource
import time

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornH11Worker

FD_RESERVE = 64  # descriptors kept for everything but client sockets (database, Redis, metrics files, logs)

log = logging.getLogger("server")


TOO_LARGE = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 24\r\n" \
            b"\r\nRequest head too large.\n"


class BoundedH11Protocol(H11Protocol):
    head_timeout = 10.0
    max_head = 16 * 1024
    max_connections = 1000
    _waiting: dict = {}  # connections waiting for a request head, oldest first (one event loop per worker)
    _refused = 0  # connections closed by the cap since the last log line
    _refused_logged = 0.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_timer = None
        if len(self.connections) > self.max_connections:
            victim = next(iter(self._waiting), self)
            victim._drop()
            BoundedH11Protocol._count_refused()
            if victim is self:
                return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:  # still reading a head: count its bytes, not a body's
            end = data.find(b"\r\n\r\n")
            self._head_bytes += end + 4 if end >= 0 else len(data)
            if self._head_bytes > self.max_head:
                self._stop_waiting()
                self.transport.write(TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._stop_waiting()  # a whole head arrived: the request runs
        elif self._head_timer is None and not self.transport.is_closing():
            self._await_head()  # bytes of a next head after a response (the keep-alive timer was cancelled)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._await_head()  # unless a pipelined request has already started

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(self.head_timeout, self._drop)
            self._waiting[self] = None

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._waiting.pop(self, None)

    def _drop(self) -> None:
        self._stop_waiting()
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        # else: a request is running (the cap found nothing idle to close); it finishes normally

    @classmethod
    def _count_refused(cls) -> None:
        cls._refused += 1
        now = time.monotonic()
        if now - cls._refused_logged >= 60:
            log.warning("connection cap reached; closing idle connections",
                        extra={"max_connections": cls.max_connections, "closed": cls._refused})
            cls._refused, cls._refused_logged = 0, now


class OncePerInterval(logging.Filter):
    """Let a given message through at most once per ``interval`` seconds, without its traceback."""

    def __init__(self, message: str, interval: float = 60.0):
        super().__init__()
        self.message, self.interval, self.last = message, interval, float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(self.message):
            return True
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        record.exc_info = record.exc_text = None
        return True


def connection_cap(worker_connections: int, backlog: int) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return worker_connections
    return max(16, min(worker_connections, soft - backlog - FD_RESERVE))


class BoundedH11Worker(UvicornH11Worker):
    CONFIG_KWARGS = {**UvicornH11Worker.CONFIG_KWARGS, "http": BoundedH11Protocol}

    def init_process(self) -> None:
        BoundedH11Protocol.head_timeout = float(os.getenv("HTTP_HEAD_TIMEOUT_SECONDS", "10"))
        BoundedH11Protocol.max_connections = connection_cap(self.cfg.worker_connections, self.cfg.backlog)
        logging.getLogger("asyncio").addFilter(OncePerInterval("socket.accept() out of system resource"))
        super().init_process()
