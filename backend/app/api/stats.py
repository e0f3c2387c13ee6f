"""Usage and cost statistics, computed with SQL over the stored LLM calls."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query
from sqlalchemy import case, func, select

from ..db.models import LLMCall, utcnow
from .deps import services

router = APIRouter(prefix="/api/stats", tags=["stats"])

_errors = func.sum(case((LLMCall.status == "error", 1), else_=0))


def _money(x) -> float:
    return round(float(x or 0.0), 6)


@router.get("/real-time")
def real_time(svc=Depends(services)):
    since = utcnow() - timedelta(minutes=5)
    with svc.sessions() as s:
        n, cost, avg_ms, errors = s.execute(
            select(func.count(), func.sum(LLMCall.cost_usd), func.avg(LLMCall.latency_ms), _errors)
            .where(LLMCall.created_at >= since)).one()
        by_provider = s.execute(select(LLMCall.provider, func.sum(LLMCall.cost_usd))
                                .group_by(LLMCall.provider).order_by(LLMCall.provider)).all()
        top_agents = s.execute(select(LLMCall.agent, func.count().label("calls"))
                               .group_by(LLMCall.agent).order_by(func.count().desc(), LLMCall.agent)
                               .limit(5)).all()
    return {
        "last_5_minutes": {
            "invocations": n,
            "cost_usd": _money(cost),
            "avg_latency_ms": round(float(avg_ms or 0.0), 3),
            "error_rate": round((errors or 0) / n, 6) if n else 0.0,
        },
        "totals": {
            "cost_by_provider": {p: _money(c) for p, c in by_provider},
            "top_agents": [{"agent": a, "calls": c} for a, c in top_agents],
        },
    }


@router.get("/cost-summary")
def cost_summary(period_hours: int = Query(24, ge=1, le=720, description="look-back window, 1..720 hours"),
                 svc=Depends(services)):
    since = utcnow() - timedelta(hours=period_hours)
    window = LLMCall.created_at >= since
    cost, calls = func.sum(LLMCall.cost_usd), func.count()
    with svc.sessions() as s:
        n, total, tin, tout = s.execute(select(calls, cost, func.sum(LLMCall.input_tokens),
                                               func.sum(LLMCall.output_tokens)).where(window)).one()

        def grouped(*cols):
            rows = s.execute(select(*cols, calls, cost).where(window).group_by(*cols)
                             .order_by(cost.desc(), *cols)).all()
            return rows

        providers = grouped(LLMCall.provider)
        models = grouped(LLMCall.provider, LLMCall.model)
        agents = grouped(LLMCall.agent)
    total = _money(total)
    most_used = max(models, key=lambda r: (r[2], r[1]), default=None)
    most_expensive = models[0] if models else None
    return {
        "period_hours": period_hours,
        "total_cost_usd": total,
        "total_calls": n,
        "input_tokens": int(tin or 0),
        "output_tokens": int(tout or 0),
        "avg_cost_per_call_usd": round(total / n, 8) if n else 0.0,
        "estimated_monthly_cost_usd": round(total / period_hours * 24 * 30, 4),
        "by_provider": [{"provider": p, "calls": c, "cost_usd": _money(x)} for p, c, x in providers],
        "by_model": [{"provider": p, "model": m, "calls": c, "cost_usd": _money(x)} for p, m, c, x in models],
        "by_agent": [{"agent": a, "calls": c, "cost_usd": _money(x)} for a, c, x in agents],
        "most_used_model": most_used[1] if most_used else None,
        "most_expensive_model": most_expensive[1] if most_expensive else None,
    }
