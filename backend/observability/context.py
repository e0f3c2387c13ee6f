"""Per-request context shared by the middleware, the logs and the traces."""
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# The tenant the current request acts for, set by the app once it knows it (bounded values only).
tenant: ContextVar[str | None] = ContextVar("tenant", default=None)
