"""Liveness and readiness probes."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..db.session import ping

router = APIRouter(tags=["health"])
log = logging.getLogger("health")


@router.get("/health")
async def health():
    """Liveness: the process answers. Touches nothing else, not even the thread pool."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    reason: str | None = None


@router.get("/ready", response_model=Readiness, response_model_exclude_none=True, responses={
    503: {"model": Readiness, "description": "the database (or Redis, when configured) does not answer"}})
def ready(request: Request):
    """Readiness: the database answers (and Redis, when configured)."""
    svc = request.app.state.services
    try:
        ping(svc.engine)
    except Exception as exc:
        log.warning("not ready: database", extra={"error": type(exc).__name__})
        return JSONResponse({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503)
    if hasattr(svc.store, "ping"):
        try:
            svc.store.ping()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "reason": f"redis: {type(exc).__name__}"}, 503)
    return {"status": "ready"}
