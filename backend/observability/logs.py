"""JSON logs on stdout, one object per line.

Every line carries timestamp, level, logger, message and service, plus the
request id (and trace/span ids when tracing is on) of the request being served.
Extra fields passed with ``logger.info("...", extra={...})`` are kept, except
names that look like secrets, which are dropped.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

from .context import request_id

# Keys never written to a log line, whatever a caller passes in ``extra``.
SECRET_KEYS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "api_key",
                         "apikey", "password", "secret", "token", "dsn"})
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}

_trace_ids = None  # set by tracing.setup_tracing: a function returning (trace_id, span_id) or None


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
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        if _trace_ids is not None:
            ids = _trace_ids()
            if ids:
                entry["trace_id"], entry["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key.lower() not in SECRET_KEYS and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class LineHandler(logging.Handler):
    """Writes each formatted record with one os.write: no buffer to lose on a crash, and lines
    from several workers sharing stdout do not interleave (writes up to PIPE_BUF are atomic)."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        self.lock = None  # one write per record needs no lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(self.fd, (self.format(record) + "\n").encode())
        except Exception:
            self.handleError(record)


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
