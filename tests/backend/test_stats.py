"""Statistics endpoints against rows the real backend wrote to a real PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from backend.helpers import request, run_workflow


def test_stats_agree_with_the_rows(backend_factory, pg_database, postgres):
    be = backend_factory(env={"DATABASE_URL": pg_database, "LLM_FAILURE_RATE": "0.2"})
    for i in range(8):
        run_workflow(be.base_url, {"name": f"s{i}", "input": f"question {i}"})
    db = pg_database.rsplit("/", 1)[1]

    def one(sql):
        return postgres.execute(sql, db=db, fetch=True)[0]

    calls, cost, avg_ms, errors = one("SELECT count(*), coalesce(sum(cost_usd),0), avg(latency_ms), "
                                      "count(*) FILTER (WHERE status = 'error') FROM llm_calls")
    status, _, rt = request("GET", be.base_url + "/api/stats/real-time")
    assert status == 200
    last5 = rt["last_5_minutes"]
    assert last5["invocations"] == calls > 0
    assert last5["cost_usd"] == pytest.approx(float(cost), abs=1e-6)
    assert last5["avg_latency_ms"] == pytest.approx(float(avg_ms), abs=1e-3)  # rounded to µs
    assert last5["error_rate"] == pytest.approx(errors / calls, abs=1e-6)
    by_provider = dict(postgres.execute("SELECT provider, sum(cost_usd) FROM llm_calls GROUP BY provider",
                                        db=db, fetch=True))
    assert rt["totals"]["cost_by_provider"] == pytest.approx({k: float(v) for k, v in by_provider.items()},
                                                             abs=1e-6)

    status, _, cs = request("GET", be.base_url + "/api/stats/cost-summary?period_hours=1")
    assert status == 200
    assert cs["total_calls"] == calls
    assert cs["total_cost_usd"] == pytest.approx(float(cost), abs=1e-6)
    assert cs["avg_cost_per_call_usd"] == pytest.approx(float(cost) / calls, rel=1e-4)
    assert cs["estimated_monthly_cost_usd"] == pytest.approx(float(cost) * 720, rel=1e-4)
    tin, tout = one("SELECT sum(input_tokens), sum(output_tokens) FROM llm_calls")
    assert (cs["input_tokens"], cs["output_tokens"]) == (tin, tout)
    assert sum(a["calls"] for a in cs["by_agent"]) == calls
    top_model = postgres.execute("SELECT model FROM llm_calls GROUP BY model ORDER BY sum(cost_usd) DESC, model "
                                 "LIMIT 1", db=db, fetch=True)[0][0]
    assert cs["most_expensive_model"] == top_model
    assert cs["by_model"][0]["model"] == top_model

    # What seed 001's API answers: token savings, all-time totals, period bounds, ranked lists.
    saved = float(one("SELECT avg(100.0 * (1 - context_tokens_after::float / context_tokens_before)) "
                      "FROM router_decisions")[0])
    assert 0 < saved < 100
    assert last5["avg_tokens_saved_pct"] == pytest.approx(saved, abs=1e-3)
    assert cs["avg_tokens_saved_pct"] == pytest.approx(saved, abs=1e-3)
    assert rt["totals"]["invocations"] == calls
    assert rt["totals"]["cost_usd"] == pytest.approx(float(cost), abs=1e-6)
    assert rt["timestamp"].endswith("Z")
    start, end = (datetime.fromisoformat(cs["period"][k].removesuffix("Z")) for k in ("start", "end"))
    assert end - start == timedelta(hours=1) and cs["period"]["hours"] == 1
    now = datetime.fromisoformat(one("SELECT (now() AT TIME ZONE 'utc')::timestamp(0)::text")[0])
    assert abs(end - now) < timedelta(minutes=1)
    assert cs["total_tokens"] == tin + tout
    used = postgres.execute("SELECT model, count(*) FROM llm_calls GROUP BY provider, model "
                            "ORDER BY count(*) DESC, provider, model LIMIT 5", db=db, fetch=True)
    assert [(m["model"], m["calls"]) for m in cs["top_models"]["most_used"]] == [tuple(r) for r in used]
    dear = postgres.execute("SELECT agent, sum(cost_usd) FROM llm_calls GROUP BY agent "
                            "ORDER BY sum(cost_usd) DESC, agent LIMIT 5", db=db, fetch=True)
    ranked = cs["top_agents"]["most_expensive"]
    assert [a["agent"] for a in ranked] == [r[0] for r in dear]
    assert [a["cost_usd"] for a in ranked] == pytest.approx([float(r[1]) for r in dear], abs=1e-6)
    counts = [a["calls"] for a in cs["top_agents"]["most_used"]]
    assert counts == sorted(counts, reverse=True) and len(counts) == min(5, len(cs["by_agent"]))


def test_cost_summary_period_excludes_older_rows(backend_factory, pg_database, postgres):
    """Rows older than the period are left out of the period's figures, not of the all-time totals."""
    be = backend_factory(env={"DATABASE_URL": pg_database, "LLM_FAILURE_RATE": "0"})
    for i in range(3):
        run_workflow(be.base_url, {"name": f"p{i}", "input": f"period {i}"})
    db = pg_database.rsplit("/", 1)[1]
    calls = postgres.execute("SELECT count(*) FROM llm_calls", db=db, fetch=True)[0][0]
    # Age one workflow's rows by two hours.
    postgres.execute("UPDATE llm_calls SET created_at = created_at - interval '2 hours' WHERE workflow_id = "
                     "(SELECT min(workflow_id) FROM llm_calls)", db=db)
    postgres.execute("UPDATE router_decisions SET created_at = created_at - interval '2 hours' WHERE workflow_id "
                     "= (SELECT min(workflow_id) FROM router_decisions)", db=db)
    old = postgres.execute("SELECT count(*) FROM llm_calls WHERE created_at < now() AT TIME ZONE 'utc' "
                           "- interval '1 hour'", db=db, fetch=True)[0][0]
    assert 0 < old < calls
    _, _, one_hour = request("GET", be.base_url + "/api/stats/cost-summary?period_hours=1")
    _, _, three_hours = request("GET", be.base_url + "/api/stats/cost-summary?period_hours=3")
    assert one_hour["total_calls"] == calls - old and three_hours["total_calls"] == calls
    _, _, rt = request("GET", be.base_url + "/api/stats/real-time")
    assert rt["totals"]["invocations"] == calls and rt["last_5_minutes"]["invocations"] == calls - old


def test_stats_on_an_empty_database(backend):
    status, _, rt = request("GET", backend.base_url + "/api/stats/real-time")
    assert status == 200 and rt["last_5_minutes"] == {"invocations": 0, "cost_usd": 0.0,
                                                      "avg_latency_ms": 0.0, "error_rate": 0.0,
                                                      "avg_tokens_saved_pct": 0.0}
    assert rt["totals"]["invocations"] == 0 and rt["totals"]["top_agents"] == []
    status, _, cs = request("GET", backend.base_url + "/api/stats/cost-summary")
    assert status == 200 and cs["total_calls"] == 0 and cs["most_used_model"] is None
    assert cs["top_models"] == {"most_used": [], "most_expensive": []} and cs["avg_tokens_saved_pct"] == 0.0
    assert cs["period"]["hours"] == 24
