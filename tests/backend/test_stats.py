"""Statistics endpoints against rows the real backend wrote to a real PostgreSQL."""
from __future__ import annotations

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


def test_stats_on_an_empty_database(backend):
    status, _, rt = request("GET", backend.base_url + "/api/stats/real-time")
    assert status == 200 and rt["last_5_minutes"] == {"invocations": 0, "cost_usd": 0.0,
                                                      "avg_latency_ms": 0.0, "error_rate": 0.0}
    status, _, cs = request("GET", backend.base_url + "/api/stats/cost-summary")
    assert status == 200 and cs["total_calls"] == 0 and cs["most_used_model"] is None
