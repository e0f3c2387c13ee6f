"""JSON logs on stdout, one object per line.

Every line carries timestamp, level, logger, message and service, plus the
request id (and trace/span ids when tracing is on) of the request being served.
Extra fields passed with ``logger.info("...", extra={...})`` are kept, except
names that look like secrets, which are dropped.
"""
from __future__ import annotations

import json
import logging
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

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
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
            if key not in _RESERVED and key.lower() not in SECRET_KEYS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send the root logger, and uvicorn's, to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
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
