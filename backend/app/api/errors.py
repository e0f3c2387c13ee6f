"""Error responses every /api route can give, for the OpenAPI document (schemathesis checks it matches)."""
from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    detail: str | list[dict]
    retry_after_seconds: int | None = None


_RETRY = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _r(description: str, headers: dict | None = None) -> dict:
    return {"model": Problem, "description": description, **({"headers": headers} if headers else {})}


# Answered by the guard, the rate limiter, the API-key check and the outage handlers (app/main.py).
API_ERRORS = {
    400: _r("malformed request (e.g. a request head over 16 KiB, refused by the server)"),
    401: _r("API key or admin token missing or wrong"),
    403: _r("client blocked after repeated security events, or fault injection disabled", _RETRY),
    404: _r("no such resource"),
    413: _r("request body larger than MAX_BODY_BYTES"),
    429: _r("rate limit exceeded, or the API key already holds its share of the workflow queue", _RETRY),
    503: _r("database or Redis unavailable, too many workflows queued, or an injected fault", _RETRY),
}
