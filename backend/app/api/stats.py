"""Usage and cost statistics, computed with SQL over the stored LLM calls and router decisions.

The answers cover what the design documents' statistics API answers (docs/seeds.md, seed 001):
recent activity and all-time totals, a period with its bounds, token savings, ranked lists.
"""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query
from sqlalchemy import case, func, select

from ..db.models import LLMCall, RouterDecision, utcnow
from .deps import services

router = APIRouter(prefix="/api/stats", tags=["stats"])

_errors = func.sum(case((LLMCall.status == "error", 1), else_=0))
# Share of context tokens the router removed, in percent, averaged over decisions.
_saved_pct = func.avg(100.0 * (1.0 - RouterDecision.context_tokens_after * 1.0
                               / func.nullif(RouterDecision.context_tokens_before, 0)))
TOP = 5  # length of the ranked lists


def _money(x) -> float:
    return round(float(x or 0.0), 6)


def _pct(x) -> float:
    return round(float(x or 0.0), 3)


def _iso(t) -> str:
    return t.isoformat(timespec="seconds") + "Z"


def _tokens_saved_pct(s, since) -> float:
    return _pct(s.execute(select(_saved_pct).where(RouterDecision.created_at >= since)).scalar())


@router.get("/real-time")
def real_time(svc=Depends(services)):
    now = utcnow()
    since = now - timedelta(minutes=5)
    with svc.sessions() as s:
        n, cost, avg_ms, errors = s.execute(
            select(func.count(), func.sum(LLMCall.cost_usd), func.avg(LLMCall.latency_ms), _errors)
            .where(LLMCall.created_at >= since)).one()
        saved = _tokens_saved_pct(s, since)
        all_n, all_cost = s.execute(select(func.count(), func.sum(LLMCall.cost_usd))).one()
        by_provider = s.execute(select(LLMCall.provider, func.sum(LLMCall.cost_usd))
                                .group_by(LLMCall.provider).order_by(LLMCall.provider)).all()
        top_agents = s.execute(select(LLMCall.agent, func.count().label("calls"))
                               .group_by(LLMCall.agent).order_by(func.count().desc(), LLMCall.agent)
                               .limit(TOP)).all()
    return {
        "timestamp": _iso(now),
        "last_5_minutes": {
            "invocations": n,
            "cost_usd": _money(cost),
            "avg_latency_ms": round(float(avg_ms or 0.0), 3),
            "error_rate": round((errors or 0) / n, 6) if n else 0.0,
            "avg_tokens_saved_pct": saved,
        },
        "totals": {
            "invocations": all_n,
            "cost_usd": _money(all_cost),
            "cost_by_provider": {p: _money(c) for p, c in by_provider},
            "top_agents": [{"agent": a, "calls": c} for a, c in top_agents],
        },
    }


@router.get("/cost-summary")
def cost_summary(period_hours: int = Query(24, ge=1, le=720, description="look-back window, 1..720 hours"),
                 svc=Depends(services)):
    end = utcnow()
    since = end - timedelta(hours=period_hours)
    window = LLMCall.created_at >= since
    cost, calls = func.sum(LLMCall.cost_usd), func.count()
    with svc.sessions() as s:
        n, total, tin, tout = s.execute(select(calls, cost, func.sum(LLMCall.input_tokens),
                                               func.sum(LLMCall.output_tokens)).where(window)).one()
        saved = _tokens_saved_pct(s, since)

        def grouped(*cols, order=cost, limit=None):
            """(*cols, calls, cost) per group, largest `order` first, ties by name."""
            query = select(*cols, calls, cost).where(window).group_by(*cols).order_by(order.desc(), *cols)
            return s.execute(query.limit(limit) if limit else query).all()

        providers = grouped(LLMCall.provider)
        models = grouped(LLMCall.provider, LLMCall.model)
        agents = grouped(LLMCall.agent)
        used_models = grouped(LLMCall.provider, LLMCall.model, order=calls, limit=TOP)
        used_agents = grouped(LLMCall.agent, order=calls, limit=TOP)
    total = _money(total)
    by_model = [{"provider": p, "model": m, "calls": c, "cost_usd": _money(x)} for p, m, c, x in models]
    by_agent = [{"agent": a, "calls": c, "cost_usd": _money(x)} for a, c, x in agents]
    most_used = [{"provider": p, "model": m, "calls": c, "cost_usd": _money(x)} for p, m, c, x in used_models]
    return {
        "period": {"start": _iso(since), "end": _iso(end), "hours": period_hours},
        "period_hours": period_hours,
        "total_cost_usd": total,
        "total_calls": n,
        "input_tokens": int(tin or 0),
        "output_tokens": int(tout or 0),
        "total_tokens": int(tin or 0) + int(tout or 0),
        "avg_cost_per_call_usd": round(total / n, 8) if n else 0.0,
        "avg_tokens_saved_pct": saved,
        "estimated_monthly_cost_usd": round(total / period_hours * 24 * 30, 4),
        "by_provider": [{"provider": p, "calls": c, "cost_usd": _money(x)} for p, c, x in providers],
        "by_model": by_model,
        "by_agent": by_agent,
        # Ranked lists, longest first (the seed's "top skills": an agent here is the caller).
        "top_models": {"most_used": most_used, "most_expensive": by_model[:TOP]},
        "top_agents": {"most_used": [{"agent": a, "calls": c, "cost_usd": _money(x)} for a, c, x in used_agents],
                       "most_expensive": by_agent[:TOP]},
        "most_used_model": most_used[0]["model"] if most_used else None,
        "most_expensive_model": by_model[0]["model"] if by_model else None,
    }
