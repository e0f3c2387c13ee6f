"""Shared request dependencies."""
from __future__ import annotations

import random

from fastapi import HTTPException, Request

from ..domain.faults import FAULTS


def services(request: Request):
    return request.app.state.services


def tenant(request: Request) -> str:
    """X-Tenant-ID if it is one of TENANTS, "default" when absent, "other" otherwise."""
    sent = request.headers.get("x-tenant-id")
    if not sent:
        return "default"
    allowed = request.app.state.services.settings.tenant_set
    return sent if sent in allowed else "other"


def injected_http_fault(request: Request) -> None:
    """Answer 503 for the share of requests set by PUT /api/admin/faults (error-burst demos)."""
    rate = FAULTS.http_error()
    if rate and random.random() < rate:
        raise HTTPException(503, "injected fault (PUT /api/admin/faults)")
