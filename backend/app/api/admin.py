"""Catalogue and fault injection (for demos, `make demo-alert` and tests)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..domain.catalog import AGENTS, MODELS, PROVIDERS
from ..domain.faults import FAULTS, ProviderFault
from ..security.limits import require_api_key
from .deps import services

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/models")
def models():
    return {"models": [vars(m) for m in MODELS.values()], "agents": sorted(AGENTS)}


class ProviderFaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failure_rate: float | None = Field(None, ge=0, le=1)
    extra_latency_ms: float = Field(0, ge=0, le=30_000)


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: dict[str, ProviderFaultIn] = {}
    http_error_rate: float = Field(0, ge=0, le=1, description="share of /api requests answered 503")
    duration_seconds: float = Field(300, gt=0, le=3600)

    @model_validator(mode="after")
    def _known_providers(self):
        unknown = set(self.providers) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"unknown providers {sorted(unknown)}; known: {list(PROVIDERS)}")
        return self


@router.get("/admin/faults")
def get_faults():
    return FAULTS.describe()


@router.put("/admin/faults", dependencies=[Depends(require_api_key)])
def set_faults(body: FaultsIn):
    FAULTS.set({p: ProviderFault(**f.model_dump()) for p, f in body.providers.items()},
               body.http_error_rate, body.duration_seconds)
    return FAULTS.describe()


@router.delete("/admin/faults", dependencies=[Depends(require_api_key)])
def clear_faults(svc=Depends(services)):
    """Clear faults and close every breaker."""
    FAULTS.clear()
    for breaker in svc.runner.breakers.values():
        breaker.reset()
    return FAULTS.describe()
