"""The eight business dashboards of the `bi` profile, one SQL query per chart.

This is the file to edit: `make superset-bundle` turns it into Superset's export format under
superset/bundle/ (what the init job imports). Each chart is a virtual dataset (its SQL) plus a
visualisation of the dataset's columns:

    Chart(title, kind, sql, columns, x=..., y=..., label=..., width=...)

kind: "line" (x = a time column, y = one or more numeric columns), "bar" (x = a category), "pie"
(x = the slice label, y = its size), "number" (y = the one value) or "table" (all columns).
`columns` lists the query's output columns as (name, type); the tests run every query on a real
PostgreSQL through the read-only role and check it returns rows with exactly these columns.

Times in the backend's tables are naive UTC, hence `now() AT TIME ZONE 'UTC'` in the filters.
"""
from __future__ import annotations

from dataclasses import dataclass, field

NOW = "(now() AT TIME ZONE 'UTC')"


@dataclass
class Chart:
    title: str
    kind: str
    sql: str
    columns: list[tuple[str, str]]
    x: str | None = None
    y: list[str] = field(default_factory=list)
    width: int = 6  # of 12 grid columns
    description: str = ""


@dataclass
class Dashboard:
    slug: str
    title: str
    description: str
    charts: list[Chart]


DASHBOARDS = [
    Dashboard("vigil-bi-workflows", "Workflow execution", "How many workflows run, how they end and how long they take.", [
        Chart("Workflows per day", "line", f"""
SELECT date_trunc('day', created_at) AS day, count(*) AS workflows
FROM workflows
WHERE created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("workflows", "BIGINT")], x="day", y=["workflows"]),
        Chart("Workflow status, last 7 days", "pie", f"""
SELECT status, count(*) AS workflows
FROM workflows
WHERE created_at >= {NOW} - interval '7 days'
GROUP BY status""", [("status", "VARCHAR"), ("workflows", "BIGINT")], x="status", y=["workflows"]),
        Chart("Average duration of completed workflows (s), last 7 days", "number", f"""
SELECT round((avg(duration_ms) / 1000)::numeric, 3) AS avg_seconds
FROM workflows
WHERE status = 'completed' AND created_at >= {NOW} - interval '7 days'""",
              [("avg_seconds", "NUMERIC")], y=["avg_seconds"]),
        Chart("Cost and tokens per day", "line", f"""
SELECT date_trunc('day', created_at) AS day, round(sum(cost_usd)::numeric, 4) AS cost_usd,
       sum(input_tokens + output_tokens) AS tokens
FROM workflows
WHERE created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("cost_usd", "NUMERIC"), ("tokens", "BIGINT")], x="day",
              y=["cost_usd", "tokens"]),
    ]),
    Dashboard("vigil-bi-agents", "Agent performance", "Runs, latency and failures of each agent.", [
        Chart("Runs per agent, last 7 days", "bar", f"""
SELECT agent, count(*) AS runs
FROM agent_runs
WHERE started_at >= {NOW} - interval '7 days'
GROUP BY agent""", [("agent", "VARCHAR"), ("runs", "BIGINT")], x="agent", y=["runs"]),
        Chart("Average latency per agent (ms), last 7 days", "bar", f"""
SELECT agent, round(avg(latency_ms)::numeric, 1) AS avg_latency_ms
FROM agent_runs
WHERE started_at >= {NOW} - interval '7 days'
GROUP BY agent""", [("agent", "VARCHAR"), ("avg_latency_ms", "NUMERIC")], x="agent", y=["avg_latency_ms"]),
        Chart("Success rate per agent, last 7 days", "table", f"""
SELECT agent, count(*) AS runs, count(*) FILTER (WHERE status = 'completed') AS completed,
       round(100.0 * count(*) FILTER (WHERE status = 'completed') / count(*), 2) AS success_rate_pct
FROM agent_runs
WHERE started_at >= {NOW} - interval '7 days'
GROUP BY agent
ORDER BY success_rate_pct""", [("agent", "VARCHAR"), ("runs", "BIGINT"), ("completed", "BIGINT"),
                               ("success_rate_pct", "NUMERIC")]),
        Chart("Agents with the most failures, last 7 days", "bar", f"""
SELECT agent, count(*) AS failures
FROM agent_runs
WHERE status = 'failed' AND started_at >= {NOW} - interval '7 days'
GROUP BY agent
ORDER BY failures DESC
LIMIT 5""", [("agent", "VARCHAR"), ("failures", "BIGINT")], x="agent", y=["failures"]),
    ]),
    Dashboard("vigil-bi-router", "Router decisions", "What the router classifies, which models it picks, "
              "and how much context it trims.", [
        Chart("Intents, last 7 days", "pie", f"""
SELECT intent, count(*) AS decisions
FROM router_decisions
WHERE created_at >= {NOW} - interval '7 days'
GROUP BY intent""", [("intent", "VARCHAR"), ("decisions", "BIGINT")], x="intent", y=["decisions"]),
        Chart("Models chosen, last 7 days", "pie", f"""
SELECT model, count(*) AS decisions
FROM router_decisions
WHERE created_at >= {NOW} - interval '7 days'
GROUP BY model""", [("model", "VARCHAR"), ("decisions", "BIGINT")], x="model", y=["decisions"]),
        Chart("Risk levels, last 7 days", "bar", f"""
SELECT risk_level, count(*) AS decisions
FROM router_decisions
WHERE created_at >= {NOW} - interval '7 days'
GROUP BY risk_level""", [("risk_level", "VARCHAR"), ("decisions", "BIGINT")], x="risk_level",
              y=["decisions"]),
        Chart("Context tokens before and after minimisation, per day", "line", f"""
SELECT date_trunc('day', created_at) AS day,
       round(avg(context_tokens_before)::numeric, 1) AS avg_tokens_before,
       round(avg(context_tokens_after)::numeric, 1) AS avg_tokens_after
FROM router_decisions
WHERE created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("avg_tokens_before", "NUMERIC"), ("avg_tokens_after", "NUMERIC")],
              x="day", y=["avg_tokens_before", "avg_tokens_after"]),
    ]),
    Dashboard("vigil-bi-brands", "Brand usage", "Projects, generated assets and workflow time per brand.", [
        Chart("Projects per brand", "bar", """
SELECT b.name AS brand, count(p.id) AS projects
FROM brands b LEFT JOIN projects p ON p.brand_id = b.id
GROUP BY b.name
ORDER BY projects DESC
LIMIT 10""", [("brand", "VARCHAR"), ("projects", "BIGINT")], x="brand", y=["projects"]),
        Chart("Assets per brand, last 30 days", "bar", f"""
SELECT b.name AS brand, count(a.id) AS assets
FROM brands b
JOIN projects p ON p.brand_id = b.id
JOIN assets a ON a.project_id = p.id AND a.created_at >= {NOW} - interval '30 days'
GROUP BY b.name
ORDER BY assets DESC
LIMIT 10""", [("brand", "VARCHAR"), ("assets", "BIGINT")], x="brand", y=["assets"]),
        Chart("Workflow time and cost per brand", "table", """
SELECT b.name AS brand, count(*) AS completed_workflows,
       round((avg(w.duration_ms) / 1000)::numeric, 3) AS avg_seconds,
       round(sum(w.cost_usd)::numeric, 4) AS cost_usd
FROM brands b
JOIN projects p ON p.brand_id = b.id
JOIN workflows w ON w.project_id = p.id
WHERE w.status = 'completed'
GROUP BY b.name
ORDER BY avg_seconds DESC""", [("brand", "VARCHAR"), ("completed_workflows", "BIGINT"),
                               ("avg_seconds", "NUMERIC"), ("cost_usd", "NUMERIC")], width=12),
    ]),
    # PostgreSQL's own statistics: the read-only role holds pg_read_all_stats (postgres/init/10-roles.sh).
    Dashboard("vigil-bi-system", "System resources", "The Vigil database: connections, size, slow "
              "statements and tables.", [
        Chart("Connections to this database by state", "bar", """
SELECT coalesce(state, 'background') AS state, count(*) AS connections
FROM pg_stat_activity
WHERE datname = current_database()
GROUP BY 1""", [("state", "TEXT"), ("connections", "BIGINT")], x="state", y=["connections"]),
        Chart("Database size (MB)", "number", """
SELECT round(pg_database_size(current_database()) / 1048576.0, 1) AS size_mb""",
              [("size_mb", "NUMERIC")], y=["size_mb"]),
        Chart("Slowest statements (mean execution time)", "table", """
SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS query, calls,
       round(mean_exec_time::numeric, 2) AS mean_ms, round(total_exec_time::numeric, 1) AS total_ms
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY mean_exec_time DESC
LIMIT 10""", [("query", "TEXT"), ("calls", "BIGINT"), ("mean_ms", "NUMERIC"), ("total_ms", "NUMERIC")],
              width=12),
        Chart("Largest tables (MB, with indexes)", "bar", """
SELECT relname AS table_name, round(pg_total_relation_size(relid) / 1048576.0, 2) AS size_mb
FROM pg_stat_user_tables
ORDER BY pg_total_relation_size(relid) DESC
LIMIT 10""", [("table_name", "NAME"), ("size_mb", "NUMERIC")], x="table_name", y=["size_mb"], width=12),
    ]),
    Dashboard("vigil-bi-users", "User activity", "Who uses Vigil's workflows, and sign-ups over time.", [
        Chart("Active users per day", "line", f"""
SELECT date_trunc('day', created_at) AS day, count(DISTINCT user_id) AS active_users
FROM workflows
WHERE user_id IS NOT NULL AND created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("active_users", "BIGINT")], x="day", y=["active_users"]),
        Chart("Users with the most projects", "bar", """
SELECT u.email, count(p.id) AS projects
FROM users u LEFT JOIN projects p ON p.user_id = u.id
GROUP BY u.email
ORDER BY projects DESC, u.email
LIMIT 10""", [("email", "VARCHAR"), ("projects", "BIGINT")], x="email", y=["projects"]),
        Chart("New users per day, last 90 days", "line", f"""
SELECT date_trunc('day', created_at) AS day, count(*) AS new_users
FROM users
WHERE created_at >= {NOW} - interval '90 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("new_users", "BIGINT")], x="day", y=["new_users"], width=12),
    ]),
    Dashboard("vigil-bi-assets", "Asset generation", "What workflows produce and how reviews judge it.", [
        Chart("Asset types, last 30 days", "pie", f"""
SELECT asset_type, count(*) AS assets
FROM assets
WHERE created_at >= {NOW} - interval '30 days'
GROUP BY asset_type""", [("asset_type", "VARCHAR"), ("assets", "BIGINT")], x="asset_type", y=["assets"]),
        Chart("Assets per day", "line", f"""
SELECT date_trunc('day', created_at) AS day, count(*) AS assets
FROM assets
WHERE created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("assets", "BIGINT")], x="day", y=["assets"]),
        Chart("Review approval rate (%), last 7 days", "number", f"""
SELECT round(100.0 * count(*) FILTER (WHERE review_status = 'approved') / count(*), 2) AS approval_rate_pct
FROM assets
WHERE review_status IS NOT NULL AND created_at >= {NOW} - interval '7 days'""",
              [("approval_rate_pct", "NUMERIC")], y=["approval_rate_pct"]),
        Chart("Average review score per day", "line", f"""
SELECT date_trunc('day', created_at) AS day, round(avg(review_score)::numeric, 2) AS avg_score
FROM assets
WHERE review_score IS NOT NULL AND created_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("avg_score", "NUMERIC")], x="day", y=["avg_score"]),
    ]),
    Dashboard("vigil-bi-errors", "Errors and recovery", "Failed agent runs, their causes, and how long "
              "each agent takes to succeed again.", [
        Chart("Failed agent runs per day", "line", f"""
SELECT date_trunc('day', started_at) AS day, count(*) AS failures
FROM agent_runs
WHERE status = 'failed' AND started_at >= {NOW} - interval '30 days'
GROUP BY 1""", [("day", "TIMESTAMP"), ("failures", "BIGINT")], x="day", y=["failures"]),
        Chart("Error types, last 7 days", "pie", f"""
SELECT coalesce(error_type, 'unknown') AS error_type, count(*) AS failures
FROM agent_runs
WHERE status = 'failed' AND started_at >= {NOW} - interval '7 days'
GROUP BY 1""", [("error_type", "VARCHAR"), ("failures", "BIGINT")], x="error_type", y=["failures"]),
        Chart("Latest 20 failures", "table", """
SELECT finished_at, agent, provider, model, error_type, workflow_id
FROM agent_runs
WHERE status = 'failed'
ORDER BY finished_at DESC
LIMIT 20""", [("finished_at", "TIMESTAMP"), ("agent", "VARCHAR"), ("provider", "VARCHAR"),
              ("model", "VARCHAR"), ("error_type", "VARCHAR"), ("workflow_id", "VARCHAR")], width=12),
        # An outage of an agent starts with a failed run that follows a completed one (or none) and
        # ends with the agent's next completed run; window functions pair them, no extra table needed.
        Chart("Recovery time per agent (s), last 7 days", "bar", f"""
WITH runs AS (
  SELECT agent, status, finished_at,
         lag(status) OVER (PARTITION BY agent ORDER BY finished_at, id) AS previous_status,
         min(finished_at) FILTER (WHERE status = 'completed') OVER (
           PARTITION BY agent ORDER BY finished_at, id
           ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_success
  FROM agent_runs
  WHERE finished_at >= {NOW} - interval '7 days'
)
SELECT agent, count(*) AS outages,
       round(avg(extract(epoch FROM next_success - finished_at))::numeric, 3) AS avg_recovery_seconds,
       round(max(extract(epoch FROM next_success - finished_at))::numeric, 3) AS max_recovery_seconds
FROM runs
WHERE status = 'failed' AND previous_status IS DISTINCT FROM 'failed' AND next_success IS NOT NULL
GROUP BY agent""", [("agent", "VARCHAR"), ("outages", "BIGINT"), ("avg_recovery_seconds", "NUMERIC"),
                    ("max_recovery_seconds", "NUMERIC")], x="agent",
              y=["avg_recovery_seconds", "max_recovery_seconds"], width=12),
    ]),
]
