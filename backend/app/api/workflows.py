"""POST /api/workflows runs a workflow in the background; GET shows its progress."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..db.models import Brand, Project, Workflow
from ..domain.catalog import AGENTS, DEFAULT_PIPELINE, MODELS
from .. import metrics
from ..domain.workflows import Overloaded, OverShare
from ..security.limits import caller, require_api_key
from .deps import services, tenant

router = APIRouter(prefix="/api/workflows", tags=["workflows"])

AgentName = Literal[tuple(AGENTS)]  # type: ignore[valid-type]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold U+0000: refuse it with 422 rather than fail with 500
MAX_ID = 2**31 - 1     # PostgreSQL integer (and SQLite's int64): a larger id is a 422, not a 500
# The database stores naive UTC; the API says so (RFC 3339 date-time needs an offset).
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=timezone.utc))]


QUEUE_RETRY_AFTER_S = 5  # a run takes seconds: by then places have freed up

ModelName = Literal[tuple(sorted(MODELS))]  # type: ignore[valid-type]  # an enum in the document


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: AgentName
    model: ModelName | None = Field(None, description="one of GET /api/models; the router picks when omitted")


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    input: str = Field("", max_length=8000, pattern=NO_NUL)
    steps: list[StepIn] | None = Field(None, min_length=1, max_length=10)
    project_id: int | None = Field(None, ge=1, le=MAX_ID, description="one of GET /api/workflows/projects")


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    step_index: int
    agent: str
    provider: str
    model: str
    status: str
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error_type: str | None
    output: str | None


class WorkflowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    tenant: str
    project_id: int | None = None
    status: str
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    duration_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error_type: str | None
    steps: list[StepOut] = []


@router.post("", status_code=202, response_model=WorkflowOut, dependencies=[Depends(require_api_key)])
def create_workflow(body: WorkflowIn, response: Response, request: Request, svc=Depends(services),
                    tenant_=Depends(tenant)):
    steps = [(s.agent, s.model) for s in body.steps] if body.steps else [(a, None) for a in DEFAULT_PIPELINE]
    user_id = None
    if body.project_id is not None:
        with svc.sessions() as s:
            project = s.get(Project, body.project_id)
        if project is None:  # a reference to nothing: 404, as for GET /api/workflows/{id}
            raise HTTPException(404, "unknown project_id: see GET /api/workflows/projects")
        user_id = project.user_id
    try:
        wf = svc.runner.create(body.name, tenant_, body.input, steps, body.project_id, user_id, caller(request))
    except OverShare:
        metrics.RATE_LIMIT_REJECTIONS.labels("/api/workflows").inc()
        raise HTTPException(429, "this API key already has its share of the workflow queue; retry later",
                            headers={"Retry-After": str(QUEUE_RETRY_AFTER_S)})
    except Overloaded:
        raise HTTPException(503, "too many workflows queued; retry later",
                            headers={"Retry-After": str(QUEUE_RETRY_AFTER_S)})
    response.headers["Location"] = f"/api/workflows/{wf.id}"
    return WorkflowOut(id=wf.id, name=wf.name, tenant=wf.tenant, project_id=wf.project_id, status=wf.status,
                       created_at=wf.created_at,
                       started_at=None, finished_at=None, duration_ms=None, input_tokens=0,
                       output_tokens=0, cost_usd=0.0, error_type=None)


@router.get("/projects")
def list_projects(svc=Depends(services)):
    """The projects a workflow may belong to (the demo catalogue)."""
    with svc.sessions() as s:
        rows = s.execute(select(Project.id, Project.name, Brand.name).join(Brand).order_by(Project.id)).all()
    return {"projects": [{"id": i, "name": n, "brand": b} for i, n, b in rows]}


@router.get("/{workflow_id}", response_model=WorkflowOut)
def get_workflow(workflow_id: str = Path(max_length=36, pattern=NO_NUL), svc=Depends(services)):
    with svc.sessions() as s:
        wf = s.get(Workflow, workflow_id)
        if wf is None:
            raise HTTPException(404, "workflow not found")
        return WorkflowOut.model_validate(wf)
