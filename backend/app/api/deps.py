"""Shared request dependencies."""
from __future__ import annotations

import random

from fastapi import HTTPException, Request

from observability.context import tenant as tenant_context

from ..domain.faults import FAULTS


def services(request: Request):
    return request.app.state.services


async def tenant(request: Request) -> str:
    """X-Tenant-ID if it is one of TENANTS, "default" when absent, "other" otherwise.

    Also the ``tenant`` of every log line the request writes from then on. Async, so it runs
    in the request's own task, whose context the later steps (threads included) copy."""
    sent = request.headers.get("x-tenant-id")
    allowed = request.app.state.services.settings.tenant_set
    value = "default" if not sent else sent if sent in allowed else "other"
    tenant_context.set(value)
    return value


def injected_http_fault(request: Request) -> None:
    """Answer 503 for the share of requests set by PUT /api/admin/faults (error-burst demos)."""
    rate = FAULTS.http_error()
    if rate and random.random() < rate:
        raise HTTPException(503, "injected fault (PUT /api/admin/faults)")
