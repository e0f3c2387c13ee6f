"""JSON logs on stdout, one object per line.

Every line carries timestamp, level, logger, message and service, plus the
request id (and trace/span ids when tracing is on) and the tenant of the request
being served.
Extra fields passed with ``logger.info("...", extra={...})`` are kept, except
names that look like secrets, which are dropped.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time

from .context import request_id, tenant

try:  # orjson encodes a log line some 20x faster than the json module; optional
    import orjson

    # A partial, not a def: called in C, one Python frame less per line.
    _dumps = functools.partial(orjson.dumps, default=str, option=orjson.OPT_APPEND_NEWLINE)
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _encode = json.JSONEncoder(default=str).encode

    def _dumps(entry: dict) -> bytes:
        return (_encode(entry) + "\n").encode()

# Keys never written to a log line, whatever a caller passes in ``extra``.
SECRET_KEYS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "api_key",
                         "apikey", "password", "secret", "token", "dsn"})
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}

_trace_ids = None  # see set_trace_ids()
LOOK_UP_IDS = object()  # entry()'s and access()'s default: ask _trace_ids for the current span's ids


def set_trace_ids(source) -> None:
    """Where log lines get trace_id / span_id: a function returning (trace_id, span_id) in hex,
    or None for "no trace" (the default). instrument() sets it when tracing is on."""
    global _trace_ids
    _trace_ids = source


_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # the timestamp's tail, formatted once


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service
        self._second = -1
        self._prefix = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once a second, not once a line
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix + _MILLIS[int((created - second) * 1000)]

    def entry(self, created: float, level: str, logger: str, message: str, ids=LOOK_UP_IDS) -> dict:
        """The fields every line starts with, plus the current request's ids.

        ``ids``: (trace_id, span_id) or None when the caller already knows them.
        """
        entry = {"timestamp": self._timestamp(created), "level": level, "logger": logger,
                 "message": message, "service": self.service}
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        who = tenant.get()
        if who:
            entry["tenant"] = who
        if ids is LOOK_UP_IDS:
            if _trace_ids is None:
                return entry
            ids = _trace_ids()
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        return entry

    def line(self, record: logging.LogRecord) -> bytes:
        """The record as one JSON line, newline included."""
        entry = self.entry(record.created, record.levelname.lower(), record.name, record.getMessage())
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key.lower() not in SECRET_KEYS and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _dumps(entry)

    def format(self, record: logging.LogRecord) -> str:  # for handlers other than LineHandler
        return self.line(record)[:-1].decode()


class LineHandler(logging.Handler):
    """Writes each formatted record with one os.write: no buffer to lose on a crash, and lines
    from several workers sharing stdout do not interleave (writes up to PIPE_BUF are atomic)."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        self.lock = None  # one write per record needs no lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fmt = self.formatter
            line = fmt.line(record) if isinstance(fmt, JsonFormatter) else (self.format(record) + "\n").encode()
            os.write(self.fd, line)
        except Exception:
            self.handleError(record)


access_logger = logging.getLogger("access")
_root = logging.getLogger()
LOGGED = "_vigil_logged"  # attribute set on an exception the middleware has logged


def access(message: str, fields: dict, level: int = logging.INFO, ids=LOOK_UP_IDS) -> None:
    """Write one access-log line (logger "access"; level info, error for a 5xx answer).

    ``ids``: the request span's (trace_id, span_id), or None, when the caller knows them.
    While the handler configure_logging() installed is the only one on the way (no
    handler or filter added since), the line is written directly: building a LogRecord
    would cost more than the rest of the request's instrumentation. Otherwise this is
    exactly ``access_logger.info(message, extra=fields)``.
    """
    handlers = _root.handlers
    if (len(handlers) == 1 and isinstance(handlers[0], LineHandler) and not handlers[0].filters
            and not access_logger.handlers and not access_logger.filters and access_logger.propagate
            and access_logger.isEnabledFor(level)):
        handler = handlers[0]
        name = "info" if level == logging.INFO else logging.getLevelName(level).lower()
        entry = handler.formatter.entry(time.time(), name, "access", message, ids)
        entry.update(fields)
        try:
            os.write(handler.fd, _dumps(entry))
        except OSError:
            pass  # stdout gone: nothing to tell
    else:
        access_logger.log(level, message, extra=fields)


def request_line(method: str, route: str, path: str, status: int, duration: float, ids=LOOK_UP_IDS) -> None:
    """The middleware's access line: exactly ``access(f"{method} {route} {status}", {"method": ..., "route": ...,
    "path": ..., "status": ..., "duration_ms": round(duration * 1000, 3)}, level, ids)``, with the level error
    for a 5xx answer. On the direct path it builds the line's dict in one go, in the same key order as entry()
    then update(): three Python calls and a dict fewer per request."""
    level = logging.ERROR if status >= 500 else logging.INFO
    handlers = _root.handlers
    if (len(handlers) == 1 and type(handlers[0]) is LineHandler and not handlers[0].filters
            and type(handlers[0].formatter) is JsonFormatter and not access_logger.handlers
            and not access_logger.filters and access_logger.propagate and access_logger.isEnabledFor(level)):
        handler = handlers[0]
        fmt = handler.formatter
        created = time.time()
        second = int(created)
        if second != fmt._second:
            fmt._timestamp(created)
        entry = {"timestamp": fmt._prefix + _MILLIS[int((created - second) * 1000)],
                 "level": "info" if level == logging.INFO else "error", "logger": "access",
                 "message": f"{method} {route} {status}", "service": fmt.service}
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        who = tenant.get()
        if who:
            entry["tenant"] = who
        if ids is LOOK_UP_IDS:
            ids = _trace_ids() if _trace_ids is not None else None
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        entry["method"] = method
        entry["route"] = route
        entry["path"] = path
        entry["status"] = status
        entry["duration_ms"] = round(duration * 1000, 3)
        try:
            os.write(handler.fd, _dumps(entry))
        except OSError:
            pass  # stdout gone: nothing to tell
    else:
        access(f"{method} {route} {status}", {"method": method, "route": route, "path": path, "status": status,
                                              "duration_ms": round(duration * 1000, 3)}, level, ids)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send the root logger, and uvicorn's, to stdout as JSON."""
    # The JSON lines carry none of these, so skip computing them for every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    sys.stdout.flush()
    handler = LineHandler(sys.stdout.fileno())
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, unstructured.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # The middleware already logged an unhandled exception with its request's ids: drop the
    # server's second, id-less copy of the traceback.
    logging.getLogger("uvicorn.error").addFilter(lambda r: not (r.exc_info and getattr(r.exc_info[1], LOGGED, False)))

