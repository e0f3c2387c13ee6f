"""Catalogue and fault injection (for demos, `make demo-alert` and tests).

/api/admin/* takes its own credential, ADMIN_TOKEN (header X-Admin-Token), never an API key;
changing faults also needs FAULT_INJECTION=true (the default in development, off in production).
"""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..domain.catalog import AGENTS, MODELS, PROVIDERS
from ..domain.faults import FAULTS, ProviderFault
from ..security.limits import ADMIN_TOKEN
from .deps import services

router = APIRouter(prefix="/api", tags=["admin"])


def require_admin(request: Request, _: str | None = Security(ADMIN_TOKEN)) -> None:
    """X-Admin-Token must match ADMIN_TOKEN; with ADMIN_TOKEN empty (development) the endpoints are open."""
    svc = request.app.state.services
    token = svc.settings.admin_token
    if not token:
        return
    sent = request.headers.get("x-admin-token", "")
    if not (sent and hmac.compare_digest(sent.encode(), token.encode())):
        from ..security.clients import client_key

        svc.guard.record_event(client_key(request.scope), "auth_abuse")
        raise HTTPException(401, "admin token required (X-Admin-Token header)",
                            headers={"WWW-Authenticate": "AdminToken"})


def fault_injection_enabled(request: Request) -> None:
    if not request.app.state.services.settings.fault_injection:
        raise HTTPException(403, "fault injection is disabled (FAULT_INJECTION=false)")


admin_deps = [Depends(require_admin)]
change_deps = [Depends(require_admin), Depends(fault_injection_enabled)]


@router.get("/models")
def models():
    return {"models": [vars(m) for m in MODELS.values()], "agents": sorted(AGENTS)}


class ProviderFaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: true/false is not a number
    failure_rate: float | None = Field(None, ge=0, le=1)
    extra_latency_ms: float = Field(0, ge=0, le=30_000)


ProviderName = Literal[tuple(PROVIDERS)]  # type: ignore[valid-type]  # documented as propertyNames


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    providers: dict[ProviderName, ProviderFaultIn] = {}
    http_error_rate: float = Field(0, ge=0, le=1, description="share of /api requests answered 503")
    duration_seconds: float = Field(300, gt=0, le=3600)


@router.get("/admin/faults", dependencies=admin_deps)
def get_faults():
    return FAULTS.describe()


@router.put("/admin/faults", dependencies=change_deps)
def set_faults(body: FaultsIn):
    FAULTS.set({p: ProviderFault(**f.model_dump()) for p, f in body.providers.items()},
               body.http_error_rate, body.duration_seconds)
    return FAULTS.describe()


@router.delete("/admin/faults", dependencies=change_deps)
def clear_faults(svc=Depends(services)):
    """Clear faults and close every breaker."""
    FAULTS.clear()
    for breaker in svc.runner.breakers.values():
        breaker.reset()
    return FAULTS.describe()
