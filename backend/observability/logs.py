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
    import orjson as _orjson

    _APPEND_NEWLINE = _orjson.OPT_APPEND_NEWLINE
    # A partial, not a def: called in C, one Python frame less per line.
    _dumps = functools.partial(_orjson.dumps, default=str, option=_APPEND_NEWLINE)
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None
    _encode = json.JSONEncoder(default=str).encode

    def _dumps(entry: dict) -> bytes:
        return (_encode(entry) + "\n").encode()

# Keys never written to a log line, whatever a caller passes in ``extra``.
SECRET_KEYS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "api_key",
                         "apikey", "password", "secret", "token", "dsn"})
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}

_INFO, _ERROR = logging.INFO, logging.ERROR
_trace_ids = None  # see set_trace_ids()
LOOK_UP_IDS = object()  # entry()'s and access()'s default: ask _trace_ids for the current span's ids


def set_trace_ids(source) -> None:
    """Where log lines get trace_id / span_id: a function returning (trace_id, span_id) in hex,
    or None for "no trace" (the default). instrument() sets it when tracing is on."""
    global _trace_ids
    _trace_ids = source


_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # the timestamp's tail, formatted once
_THOUSANDTHS = (".0", *(f".{n:03d}".rstrip("0") for n in range(1, 1000)))  # a duration's, as repr() writes it


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service
        self._second = -1
        self._prefix = ""
        self._access: dict[str, tuple[str, str, str]] = {}  # see _access_parts()

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once a second, not once a line
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix + _MILLIS[int((created - second) * 1000)]

    def _access_parts(self, message: str, method: str, route: str, status: int) -> tuple[str, str, str]:
        """The constant text of request_line()'s usual line, between its timestamp, request id, path and
        duration: JSON written by orjson, so escaped as the dict path escapes it. Bounded like the series."""
        dump = lambda value: _orjson.dumps(value).decode()  # noqa: E731
        level = "error" if status >= 500 else "info"
        parts = (f'","level":"{level}","logger":"access","message":{dump(message)},"service":{dump(self.service)},'
                 f'"request_id":"', f'","method":{dump(method)},"route":{dump(route)},"path":"',
                 f'","status":{dump(status)},"duration_ms":')
        self._access[message] = parts
        return parts

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


def milliseconds(seconds: float) -> float:
    """``round(seconds * 1000, 3)``, the access line's ``duration_ms``, without round()'s decimal conversion.

    round(x, 3) is the double nearest to x rounded to a whole number of thousandths. For a duration under
    1,000 s, ``seconds * 1e6`` is within 1e-6 of that number of thousandths unrounded, so when it is not
    within 0.0001 of a half (where a last-bit error could flip the rounding) the nearest integer is the same,
    and dividing it by 1000 (correctly rounded by IEEE) gives round()'s double. The rest goes to round().
    tests/backend/test_access_line.py compares the two over many values, halves included."""
    micros = seconds * 1e6
    if 0.0 <= micros < 1e9:
        whole = int(micros + 0.5)
        if -0.4999 < micros - whole < 0.4999:
            return whole / 1000
    return round(seconds * 1000, 3)


def request_line(method: str, route: str, path: str, status: int, duration: float, ids=LOOK_UP_IDS,
                 message: str | None = None, rid: str | None = None) -> None:
    """The middleware's access line: exactly ``access(message, {"method": ..., "route": ..., "path": ...,
    "status": ..., "duration_ms": round(duration * 1000, 3)}, level, ids)``, with the level error for a 5xx
    answer; ``message`` is ``f"{method} {route} {status}"`` (the middleware passes it, made once per series).
    ``rid``: the request id the caller has set in the context, known to need no JSON escape (the
    middleware's are letters, digits and ``._-``); None to read it from the context.

    While configure_logging()'s handler is the only one on the way, it writes the bytes of that call itself,
    with no LogRecord: the usual line (a request id, no tenant, nothing to escape; a sampled request's trace
    ids too) as text from parts made once per message, any other as one dict in the key order of entry() then
    update(), encoded by orjson. tests/backend/test_access_line.py holds both to the logging path's bytes."""
    if message is None:
        message = f"{method} {route} {status}"
    level = _ERROR if status >= 500 else _INFO
    handlers = _root.handlers
    handler = handlers[0] if len(handlers) == 1 else None
    if (type(handler) is LineHandler and not handler.filters and type(handler.formatter) is JsonFormatter
            and _orjson is not None and not access_logger.handlers and not access_logger.filters
            and access_logger.propagate and access_logger.isEnabledFor(level)):
        fmt = handler.formatter
        millis_now = time.time_ns() // 1_000_000  # integers: no int() calls on floats
        second = millis_now // 1000
        if second != fmt._second:
            fmt._timestamp(second)
        stamp = fmt._prefix + _MILLIS[millis_now - second * 1000]
        name = "info" if level == _INFO else "error"
        plain = rid is not None  # a caller's rid is plain text (see above)
        if not plain:
            rid = request_id.get()
        who = tenant.get()
        if ids is LOOK_UP_IDS:
            ids = _trace_ids() if _trace_ids is not None else None
        micros = duration * 1e6  # milliseconds(duration), inline: a Python call costs as much as its arithmetic
        whole = int(micros + 0.5)
        if 0.0 <= micros < 1e9 and -0.4999 < micros - whole < 0.4999:
            millis = whole / 1000
            if rid and not who:
                both = path if plain else rid + path
                if ids:  # a sampled request's (trace_id, span_id): the tracer's hex; anything else as a dict
                    trace_hex, span_hex = ids
                    both = f"{both}{trace_hex}{span_hex}" if type(trace_hex) is str and type(span_hex) is str else '"'
                # The usual line, as text: what orjson would write for the dict below, when no character needs
                # JSON's escapes (printable ASCII, no quote or backslash). duration_ms as orjson writes
                # whole / 1000: the integer part, then the thousandths without trailing zeros (".0" for none).
                # The rest of the line is made once per message (see _access_parts).
                if both.isascii() and both.isprintable() and '"' not in both and "\\" not in both:
                    parts = fmt._access.get(message) or fmt._access_parts(message, method, route, status)
                    if ids:
                        rid = f'{rid}","trace_id":"{trace_hex}","span_id":"{span_hex}'
                    line = (f'{{"timestamp":"{stamp}{parts[0]}{rid}{parts[1]}{path}{parts[2]}'
                            f'{whole // 1000}{_THOUSANDTHS[whole % 1000]}}}\n')
                    try:
                        os.write(handler.fd, line.encode())
                    except OSError:
                        pass  # stdout gone: nothing to tell
                    return
        else:
            millis = milliseconds(duration)
        if rid and not who and not ids:
            entry = {"timestamp": stamp, "level": name, "logger": "access", "message": message,
                     "service": fmt.service, "request_id": rid, "method": method, "route": route, "path": path,
                     "status": status, "duration_ms": millis}
        else:
            entry = {"timestamp": stamp, "level": name, "logger": "access", "message": message,
                     "service": fmt.service}
            if rid:
                entry["request_id"] = rid
            if who:
                entry["tenant"] = who
            if ids:
                entry["trace_id"], entry["span_id"] = ids
            entry["method"] = method
            entry["route"] = route
            entry["path"] = path
            entry["status"] = status
            entry["duration_ms"] = millis
        try:
            os.write(handler.fd, _orjson.dumps(entry, str, _APPEND_NEWLINE))
        except OSError:
            pass  # stdout gone: nothing to tell
    else:
        access(message, {"method": method, "route": route, "path": path, "status": status,
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
    # uvicorn's own access log would duplicate ours, unstructured. With no handler on its way (none of its
    # own, no propagation) uvicorn does not even format its arguments (it asks hasHandlers() per connection).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # The middleware already logged an unhandled exception with its request's ids: drop the
    # server's second, id-less copy of the traceback.
    logging.getLogger("uvicorn.error").addFilter(lambda r: not (r.exc_info and getattr(r.exc_info[1], LOGGED, False)))

