"""Per-request context shared by the middleware, the logs and the traces."""
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
