"""Per-client rate limit (fixed one-minute window) and API-key check, as FastAPI dependencies.

Being dependencies, they run after routing, so a 429/401 is recorded under the
route template. With REDIS_URL set the counters are shared by all workers.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from .. import metrics
from .clients import client_key

log = logging.getLogger("security")


def _route(request: Request) -> str:
    return getattr(request.scope.get("route"), "path", "unmatched")


def rate_limit(request: Request) -> None:
    services = request.app.state.services
    limit = services.settings.rate_limit_per_minute
    if limit <= 0:
        return
    client = client_key(request.scope)
    window = int(time.time() // 60)
    count = services.store.incr(f"rl:{client}:{window}", 61)
    if count > limit:
        route = _route(request)
        metrics.RATE_LIMIT_REJECTIONS.labels(route).inc()
        log.warning("rate limit exceeded", extra={"route": route, "limit_per_minute": limit})
        services.guard.record_event(client, "rate_limit_abuse")
        retry = 60 - int(time.time()) % 60
        raise HTTPException(429, f"rate limit of {limit} requests per minute exceeded",
                            headers={"Retry-After": str(retry)})


def sent_key(request: Request) -> str | None:
    """The API key the request carries: X-API-Key, or Authorization: Bearer."""
    sent = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if sent is None and auth.lower().startswith("bearer "):
        sent = auth[7:].strip()
    return sent


def caller(request: Request) -> str:
    """Whose share of the workflow queue a request uses: its API key (hashed: never kept as sent), or its
    client address when keys are off (development)."""
    key = sent_key(request)
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16] if key else client_key(request.scope)


# In the API document as security schemes; the checks below read the headers themselves (Bearer too).
API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False, description="one of API_KEYS")
ADMIN_TOKEN = APIKeyHeader(name="X-Admin-Token", scheme_name="AdminToken", auto_error=False,
                           description="ADMIN_TOKEN (/api/admin/*)")


def require_api_key(request: Request, _: str | None = Security(API_KEY)) -> None:
    """Write endpoints need a key from API_KEYS; with API_KEYS unset they are open (dev)."""
    services = request.app.state.services
    keys = services.settings.api_key_set
    if not keys:
        return
    sent = sent_key(request)
    if not sent:
        metrics.AUTH_FAILURES.labels("missing").inc()
        log.warning("request without API key refused", extra={"reason": "missing", "route": _route(request)})
        raise HTTPException(401, "API key required (X-API-Key header)", headers={"WWW-Authenticate": "ApiKey"})
    if not any(hmac.compare_digest(sent.encode(), k.encode()) for k in keys):
        metrics.AUTH_FAILURES.labels("invalid").inc()
        log.warning("request with an invalid API key refused", extra={"reason": "invalid", "route": _route(request)})
        services.guard.record_event(client_key(request.scope), "auth_abuse")
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "ApiKey"})
