"""Business analytics (vigil-business): workflows, agents and LLM spend from PostgreSQL (SQL)."""
from __future__ import annotations

from .build import PG, dashboard, panel, query_var, sql


def build() -> dict:
    ten = "tenant IN ($tenant)"
    items = [
        panel("timeseries", "Workflows per day", "Workflows created per day.",
              [sql(f"SELECT date_trunc('day', created_at) AS time, count(*) AS workflows FROM workflows "
                   f"WHERE $__timeFilter(created_at) AND {ten} GROUP BY 1 ORDER BY 1", "time_series")],
              "short", w=12, custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("piechart", "Status distribution", "Workflows by status over the dashboard's range.",
              [sql(f"SELECT status, count(*) AS workflows FROM workflows WHERE $__timeFilter(created_at) "
                   f"AND {ten} GROUP BY status ORDER BY 2 DESC")], "short", w=6),
        panel("stat", "Average execution time", "Mean wall time of finished workflows over the range.",
              [sql(f"SELECT avg(duration_ms) / 1000.0 AS seconds FROM workflows WHERE $__timeFilter(created_at) "
                   f"AND {ten} AND duration_ms IS NOT NULL")], "s", w=6),
        panel("timeseries", "Average execution time per day", "Mean wall time of finished workflows, per day.",
              [sql(f"SELECT date_trunc('day', created_at) AS time, avg(duration_ms) / 1000.0 AS seconds FROM "
                   f"workflows WHERE $__timeFilter(created_at) AND {ten} AND duration_ms IS NOT NULL "
                   f"GROUP BY 1 ORDER BY 1", "time_series")], "s", w=12),
        panel("table", "Agent success rate", "Steps, success rate, latency and cost per agent over the range.",
              [sql(f"SELECT agent, count(*) AS steps, round(100.0 * count(*) FILTER (WHERE status = 'completed') "
                   f"/ count(*), 1) AS success_pct, round(avg(latency_ms)::numeric, 1) AS avg_latency_ms, "
                   f"round(sum(cost_usd)::numeric, 4) AS cost_usd FROM agent_runs WHERE "
                   f"$__timeFilter(started_at) AND {ten} GROUP BY agent ORDER BY success_pct, agent")],
              "short", w=12),
        panel("bargauge", "Top errors", "Most frequent error types of failed agent steps over the range.",
              [sql(f"SELECT error_type, count(*) AS failures FROM agent_runs WHERE error_type IS NOT NULL AND "
                   f"$__timeFilter(started_at) AND {ten} GROUP BY error_type ORDER BY 2 DESC LIMIT 10")],
              "short", w=12, options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True}}),
        panel("bargauge", "Cost by provider", "Dollars spent per provider over the range.",
              [sql(f"SELECT provider, sum(cost_usd) AS cost_usd FROM llm_calls WHERE $__timeFilter(created_at) "
                   f"AND {ten} GROUP BY provider ORDER BY 2 DESC")], "currencyUSD", w=12,
              options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True}}),
        panel("table", "Recent failed workflows", "The latest failed workflows with their error type.",
              [sql(f"SELECT created_at AS time, id, name, tenant, error_type, round(duration_ms::numeric, 0) "
                   f"AS duration_ms FROM workflows WHERE status = 'failed' AND $__timeFilter(created_at) "
                   f"AND {ten} ORDER BY created_at DESC LIMIT 50")], "short", w=24),
        panel("timeseries", "Cost by day", "Dollars spent per day, by provider.",
              [sql(f"SELECT date_trunc('day', created_at) AS time, provider AS metric, sum(cost_usd) AS value "
                   f"FROM llm_calls WHERE $__timeFilter(created_at) AND {ten} GROUP BY 1, 2 ORDER BY 1",
                   "time_series")], "currencyUSD", w=24, stack=True, custom={"drawStyle": "bars"}),
        panel("table", "Routing by model", "Router decisions per model, with the context tokens they saved.",
              [sql(f"SELECT model, count(*) AS decisions, sum(context_tokens_before - context_tokens_after) "
                   f"AS tokens_saved FROM router_decisions WHERE $__timeFilter(created_at) AND {ten} "
                   f"GROUP BY model ORDER BY decisions DESC")], "short", w=24),
    ]
    variables = [query_var("tenant", "Tenant", "SELECT DISTINCT tenant FROM workflows ORDER BY 1",
                           "Tenants to include.", ds=PG)]
    return dashboard("vigil-business", "What is the business doing? Workflow volume and outcomes, agent "
                     "success rates, errors and LLM spend, from the backend's PostgreSQL tables.",
                     ["business", "sql"], items, variables, time_from="now-7d", refresh="5m")
