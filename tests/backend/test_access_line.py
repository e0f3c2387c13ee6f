"""The access line's direct path (logs.request_line) writes the bytes the logging machinery would.

Runs no program: the logs module in-process, writing to a pipe, with the clock held still. The reference
is ``access_logger.log(level, message, extra=fields)`` through the root's LineHandler, the generic path.
"""
from __future__ import annotations

import logging
import os
import random
import time

import pytest

from observability import logs
from observability.context import request_id, tenant

T_NS = 1_764_000_000_123_456_000  # a fixed clock: the direct path reads time.time_ns(), LogRecord time.time()
T = T_NS / 1e9


class Pipe:
    """The root logger's only handler, a LineHandler writing to a pipe (pytest adds its own capture handler
    at each test phase, so tests install this one inside the test body, with ``with pipe:``)."""

    def __init__(self):
        self.r, w = os.pipe()
        os.set_blocking(self.r, False)
        self.handler = logs.LineHandler(w)
        self.handler.setFormatter(logs.JsonFormatter("svc"))

    def __enter__(self):
        root = logging.getLogger()
        self.saved = root.handlers[:], root.level
        root.handlers[:] = [self.handler]
        root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        root = logging.getLogger()
        root.handlers[:] = self.saved[0]
        root.setLevel(self.saved[1])

    def read(self) -> bytes:
        try:
            return os.read(self.r, 1 << 16)
        except BlockingIOError:
            return b""


@pytest.fixture
def pipe(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: T)
    monkeypatch.setattr(time, "time_ns", lambda: T_NS)
    monkeypatch.setattr(logs, "_trace_ids", None)
    p = Pipe()
    yield p
    os.close(p.r)
    os.close(p.handler.fd)


def direct(monkeypatch, *args) -> None:
    """request_line() with the logging path made to fail: proves the line was written directly."""
    with monkeypatch.context() as m:
        m.setattr(logs, "access", None)
        logs.request_line(*args)


def reference(method, route, path, status, duration, ids=logs.LOOK_UP_IDS) -> None:
    """What request_line() stands for, through LogRecord, the handler and JsonFormatter.line()."""
    fields = {"method": method, "route": route, "path": path, "status": status,
              "duration_ms": round(duration * 1000, 3)}
    if ids is logs.LOOK_UP_IDS:
        logs.access_logger.log(logging.ERROR if status >= 500 else logging.INFO,
                               f"{method} {route} {status}", extra=fields)
    else:
        logs.access(f"{method} {route} {status}", fields, logging.ERROR if status >= 500 else logging.INFO, ids)


PATHS = ["/api/items/7", "/caf\u00e9/\"quoted\"\\back", "/ctl\x01\x1f\n", "/" + "x" * 300]
CASES = [(status, rid, who, ids, path, duration)
         for status in (200, 404, 500, 503)
         for rid in ("r-1.abc", None)
         for who in ("acme", None)
         for ids in (logs.LOOK_UP_IDS, None, ("ab" * 16, "cd" * 8), ('q"uote\\', "x"), ("ab", 7))
         for path, duration in zip(PATHS, (0.0, 0.0012345, 1.5, 2000.25))]


@pytest.mark.parametrize("status,rid,who,ids,path,duration", CASES)
def test_direct_line_is_the_generic_line(pipe, monkeypatch, status, rid, who, ids, path, duration):
    tokens = [request_id.set(rid), tenant.set(who)]
    try:
        with pipe:
            direct(monkeypatch, "GET", "/api/items/{item_id}", path, status, duration, ids)
            fast = pipe.read()
            # as the middleware calls it: the message made beforehand, the request id it set passed along
            direct(monkeypatch, "GET", "/api/items/{item_id}", path, status, duration, ids,
                   f"GET /api/items/{{item_id}} {status}", rid)
            passed = pipe.read()
            reference("GET", "/api/items/{item_id}", path, status, duration, ids)
            slow = pipe.read()
    finally:
        tenant.reset(tokens[1])
        request_id.reset(tokens[0])
    assert fast and fast == slow and passed == slow


def test_durations_are_written_as_orjson_writes_them(pipe, monkeypatch):
    """The usual line is written as text: its duration_ms must be orjson's float, at every magnitude."""
    rng = random.Random(7)
    durations = [0.0, 0.0005, 0.001, 0.0100, 0.1, 1.0, 999.9994, 999.9996, 1e-7]
    durations += [rng.random() * 10 ** rng.randint(-6, 2) for _ in range(3000)]
    token = request_id.set("0123456789abcdef0123456789abcdef")
    try:
        with pipe:
            for duration in durations:
                direct(monkeypatch, "GET", "/r", "/r/1", 200, duration)
                fast = pipe.read()
                reference("GET", "/r", "/r/1", 200, duration)
                assert fast == pipe.read(), duration
    finally:
        request_id.reset(token)


def test_looked_up_trace_ids_are_the_same(pipe, monkeypatch):
    monkeypatch.setattr(logs, "_trace_ids", lambda: ("12" * 16, "34" * 8))
    token = request_id.set("rid")
    try:
        with pipe:
            direct(monkeypatch, "POST", "/x", "/x", 201, 0.25)
            fast = pipe.read()
            reference("POST", "/x", "/x", 201, 0.25)
            assert fast == pipe.read() and b'"trace_id":"' + b"12" * 16 + b'"' in fast
    finally:
        request_id.reset(token)


def test_another_handler_takes_the_logging_path(pipe, monkeypatch):
    """A second handler (or a filter) on the way: the line goes through logging, so that handler gets it too."""
    seen = []
    extra = logging.Handler()
    extra.emit = seen.append
    with pipe:
        logging.getLogger().addHandler(extra)
        logs.request_line("GET", "/a", "/a", 200, 0.001)
    assert pipe.read().startswith(b'{"timestamp"') and len(seen) == 1
    assert seen[0].getMessage() == "GET /a 200" and seen[0].duration_ms == 1.0


def test_disabled_level_writes_nothing(pipe):
    saved = logs.access_logger.level
    logs.access_logger.setLevel(logging.CRITICAL)  # setLevel() clears the loggers' isEnabledFor caches
    try:
        with pipe:
            logs.request_line("GET", "/a", "/a", 200, 0.001)
            logs.request_line("GET", "/a", "/a", 500, 0.001)
    finally:
        logs.access_logger.setLevel(saved)
    assert pipe.read() == b""


def test_milliseconds_is_round():
    rng = random.Random(27)
    values = [0.0, 1e-9, 0.0005, 0.0015, 0.0025, 999.9999995, 1000.0, 1e6, 3.5e-7]
    values += [rng.random() * 10 ** rng.randint(-7, 3) for _ in range(200_000)]
    # halves of a thousandth, as exact as floats allow, and their neighbours
    values += [(k + 0.5) / 1e6 for k in range(0, 2_000_000, 7)]
    values += [k / 1e6 + 5e-10 for k in range(0, 200_000, 3)]
    values += [k / 1e6 - 5e-10 for k in range(1, 200_000, 3)]
    wrong = [v for v in values if logs.milliseconds(v) != round(v * 1000, 3)
             or repr(logs.milliseconds(v)) != repr(round(v * 1000, 3))]
    assert not wrong, wrong[:5]


def test_uvicorn_access_logger_has_no_way_out():
    """configure_logging() leaves uvicorn's access logger no handler, so uvicorn skips formatting its lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure_logging("svc")
        assert not logging.getLogger("uvicorn.access").hasHandlers()
    finally:
        root.handlers[:], root.level = saved
