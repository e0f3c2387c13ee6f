"""Workflows and agents (vigil-workflows): runs, success ratio, durations and per-agent executions."""
from __future__ import annotations

from .build import service_var, dashboard, ds_var, panel, prom, query_var, row, thresholds


def build() -> dict:
    j = 'job="$service"'
    t = 'job="$service", tenant=~"$tenant"'
    a = 'job="$service", agent=~"$agent"'
    ri = "$__rate_interval"
    items = [
        row("Workflows"),
        panel("stat", "Runs in 24 h", "Workflow runs finished in the trailing 24 hours.",
              [prom(f"sum(increase(workflow_runs_total{{{t}}}[1d]))", "runs")], "short", w=4, h=5),
        panel("stat", "Success ratio", "Completed runs / finished runs over 5 m.",
              [prom(f"1 - job:workflow_runs_failed:ratio_rate5m{{{j}}}", "success")], "percentunit", w=4, h=5,
              steps=thresholds(("red", None), ("orange", 0.9), ("green", 0.98))),
        panel("stat", "Active workflows", "Workflow runs executing now.",
              [prom(f"sum(workflows_active{{{j}}})", "active")], "short", w=4, h=5),
        panel("stat", "Runs per minute", "Finished workflow runs per minute (5 m).",
              [prom(f"sum(job:workflow_runs:rate5m{{{j}}}) * 60", "runs/min")], "short", w=4, h=5),
        panel("stat", "p95 duration", "95th percentile of workflow wall time.",
              [prom(f"histogram_quantile(0.95, sum by (le) (rate(workflow_duration_seconds_bucket{{{j}}}[{ri}])))",
                    "p95")], "s", w=8, h=5),
        panel("timeseries", "Runs by status", "Finished workflow runs per minute, by status.",
              [prom(f"sum by (status) (rate(workflow_runs_total{{{t}}}[{ri}])) * 60", "{{status}}")], "short",
              w=8, stack=True),
        panel("timeseries", "Duration p50 / p95", "Workflow wall time percentiles, start to finish.",
              [prom(f"histogram_quantile(0.5, sum by (le) (rate(workflow_duration_seconds_bucket{{{j}}}[{ri}])))", "p50"),
               prom(f"histogram_quantile(0.95, sum by (le) (rate(workflow_duration_seconds_bucket{{{j}}}[{ri}])))",
                    "p95")], "s", w=8),
        panel("bargauge", "Runs per day by tenant", "Workflow runs in the trailing 24 hours per tenant.",
              [prom(f"sum by (tenant) (increase(workflow_runs_total{{{t}}}[1d]))", "{{tenant}}", instant=True)],
              "short", w=8),
        row("Agents"),
        panel("timeseries", "Executions by agent", "Agent step executions per minute.",
              [prom(f"sum by (agent) (rate(agent_executions_total{{{a}, tenant=~\"$tenant\"}}[{ri}])) * 60",
                    "{{agent}}")], "short", w=8),
        panel("timeseries", "Latency p95 by agent", "95th percentile of one agent step's wall time.",
              [prom(f"histogram_quantile(0.95, sum by (agent, le) (rate(agent_execution_duration_seconds_bucket"
                    f"{{{a}}}[{ri}])))", "{{agent}}")], "s", w=8),
        panel("bargauge", "Top failing agents", "Agents with the most failed steps over the dashboard's range.",
              [prom(f"topk(5, sum by (agent) (increase(agent_executions_total{{{a}, status=\"failed\"}}[$__range])))",
                    "{{agent}}", instant=True)], "short", w=8,
              steps=thresholds(("orange", None), ("red", 10))),
        panel("piechart", "Error types", "LLM errors behind failed steps, by type, over the dashboard's range.",
              [prom(f"sum by (error_type) (increase(llm_errors_total{{{j}}}[$__range]))", "{{error_type}}",
                    instant=True)], w=8),
        panel("timeseries", "Agent failure ratio", "Failed steps / all steps per agent (0 when none failed).",
              [prom(f"(sum by (agent) (rate(agent_executions_total{{{a}, status=\"failed\"}}[{ri}])) or sum by "
                    f"(agent) (rate(agent_executions_total{{{a}}}[{ri}])) * 0) / sum by (agent) "
                    f"(rate(agent_executions_total{{{a}}}[{ri}]))", "{{agent}}")], "percentunit", w=16,
              steps=thresholds(("green", None), ("red", 0.1))),
    ]
    variables = [ds_var(), service_var(),
                 query_var("tenant", "Tenant", 'label_values(workflow_runs_total{job="$service"}, tenant)',
                           "Tenants to include (configured set; others count as \"other\")."),
                 query_var("agent", "Agent", 'label_values(agent_executions_total{job="$service"}, agent)',
                           "Agents to include.")]
    return dashboard("vigil-workflows", "Are workflows finishing, how fast, and which agents fail? Runs, "
                     "success ratio, durations and per-agent executions.", ["llm", "workflows"], items, variables)
