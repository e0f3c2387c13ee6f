#!/usr/bin/env python3
"""Build Vigil's Grafana dashboards (classic JSON model) from the compact definitions below.

    python grafana/generate.py          # rewrite grafana/dashboards/<folder>/<name>.json
    python grafana/generate.py --check  # exit 1 if the committed JSON differs (CI, make check-grafana)

Plain Python, no packages. The JSON is committed so Grafana's file provider can load it;
tests/grafana checks that running this script changes nothing, and that every query of
every panel returns data against real Prometheus and PostgreSQL.

Queries use the recording rules of prometheus/rules/recording.yml where one exists
(level:metric:operations names); raw metric names come from backend/observability/metrics.py
and backend/app/metrics.py.
Exporter metrics are names the exporters of the tests (make tools: node_exporter 1.11,
postgres_exporter 0.19, redis_exporter 1.86) and the pinned images both expose.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks"  # one dashboard per runbook, folder runbooks
SCHEMA_VERSION = 39  # Grafana 11.x-13.x read it without migration prompts

PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "loki"}
PG = {"type": "grafana-postgresql-datasource", "uid": "postgres"}

# Dashboards: uid -> (title, folder, file name). The links bar of every dashboard lists them all.
DASHBOARDS = {
    "vigil-overview": ("Vigil / Service overview", "service", "overview"),
    "vigil-llm": ("Vigil / LLM cost and usage", "llm", "llm"),
    "vigil-workflows": ("Vigil / Workflows and agents", "llm", "workflows"),
    "vigil-infra": ("Vigil / Infrastructure", "infrastructure", "infrastructure"),
    "vigil-logs": ("Vigil / Logs", "service", "logs"),
    "vigil-security": ("Vigil / Security", "security", "security"),
    "vigil-business": ("Vigil / Business analytics", "business", "business"),
}

# Levels of log lines worth an "errors" panel, as alloy/config.alloy spells them.
ERROR_LEVELS = "error|critical|fatal|panic"

# Router token savings: red under TokenSavingsLow's 40 %, green from 70 % (seed 001's gauge).
SAVINGS = {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "yellow", "value": 0.4},
                                          {"color": "green", "value": 0.7}]}

# Availability SLO of prometheus/rules (99.9 % of requests not 5xx): the error budget is 0.1 %.
SLO_ERROR_BUDGET = 0.001


# --- targets ------------------------------------------------------------------------------
def prom(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> dict:
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "range": not instant,
         "instant": instant, "format": fmt}
    return t


def loki(expr: str, legend: str = "") -> dict:
    return {"datasource": LOKI, "expr": expr, "legendFormat": legend, "queryType": "range"}


def sql(raw: str, fmt: str = "table") -> dict:
    return {"datasource": PG, "rawSql": " ".join(raw.split()), "format": fmt, "rawQuery": True,
            "editorMode": "code"}


# --- panels -------------------------------------------------------------------------------
def thresholds(*steps) -> dict:
    """thresholds(("green", None), ("red", 0.05)): colour from each value upwards."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


OK = thresholds(("green", None))


def panel(kind: str, title: str, description: str, targets: list, unit: str = "short",
          w: int = 12, h: int = 8, steps: dict | None = None, stack: bool = False,
          lo=None, hi=None, mappings: list | None = None, options: dict | None = None,
          custom: dict | None = None) -> dict:
    ds = targets[0]["datasource"] if targets else PROM
    defaults = {"unit": unit, "thresholds": steps or OK, "color": {"mode": "palette-classic"}}
    if steps or kind in ("stat", "gauge", "bargauge"):
        defaults["color"] = {"mode": "thresholds"}
    if lo is not None:
        defaults["min"] = lo
    if hi is not None:
        defaults["max"] = hi
    if mappings:
        defaults["mappings"] = mappings
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 25 if stack else 10,
                              "showPoints": "never", "spanNulls": False,
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
        if steps:
            defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
    if custom:
        defaults.setdefault("custom", {}).update(custom)
    opts = {
        "timeseries": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                       "tooltip": {"mode": "multi", "sort": "desc"}},
        "stat": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "value", "graphMode": "area", "textMode": "auto", "justifyMode": "auto"},
        "gauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                  "showThresholdMarkers": True},
        "bargauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "orientation": "horizontal", "displayMode": "gradient"},
        "piechart": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "pieType": "donut", "legend": {"displayMode": "table", "placement": "right",
                                                    "values": ["value", "percent"], "showLegend": True}},
        "table": {"showHeader": True, "cellHeight": "sm"},
        "logs": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending",
                 "enableLogDetails": True, "dedupStrategy": "none"},
        "heatmap": {"calculate": False, "yAxis": {"unit": unit}, "cellGap": 1,
                    "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64}},
        "barchart": {"orientation": "horizontal", "showValue": "auto", "xTickLabelRotation": 0,
                     "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}},
    }.get(kind, {})
    opts.update(options or {})
    targets = [{"refId": chr(ord("A") + i), **t} for i, t in enumerate(targets)]
    p = {"type": kind, "title": title, "description": description, "datasource": ds,
         "gridPos": {"w": w, "h": h}, "fieldConfig": {"defaults": defaults, "overrides": []},
         "options": opts, "targets": targets}
    if kind == "table" and targets and targets[0]["datasource"] is PROM:
        # Instant vectors as rows: merge the queries and drop the timestamp column.
        # Several queries: their value columns are "Value #<refId>"; name them by their legend.
        names = {f"Value #{t['refId']}": t["legendFormat"] for t in targets} if len(targets) > 1 else {}
        p["transformations"] = [{"id": "merge", "options": {}},
                                {"id": "organize", "options": {"excludeByName": {"Time": True},
                                                               "renameByName": names}}]
    return p


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


# --- variables ----------------------------------------------------------------------------
def ds_var() -> dict:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0, "refresh": 1,
            "regex": "", "description": "Prometheus datasource the panels query."}


def query_var(name: str, label: str, query: str, description: str, multi: bool = True,
              default: str | None = None, ds: dict = PROM) -> dict:
    """A variable filled from label values. multi: "All" matches everything (allValue .*)."""
    v = {"name": name, "label": label, "type": "query", "datasource": ds,
         "query": {"query": query, "refId": f"{name}-values"} if ds is PROM else query,
         "definition": query, "refresh": 2, "sort": 1, "hide": 0, "regex": "",
         "description": description, "multi": multi, "includeAll": multi}
    if multi:
        if ds is LOKI:  # Loki refuses a selector whose matchers all match the empty value
            v["allValue"] = ".+"
        elif ds is not PG:  # SQL: "All" expands to every value, quoted: tenant IN ('a','b')
            v["allValue"] = ".*"
        v["current"] = {"text": ["All"], "value": ["$__all"]}
    else:
        v["current"] = {"text": default, "value": default}
    return v


def custom_var(name: str, label: str, values: list[str], description: str) -> dict:
    return {"name": name, "label": label, "type": "custom", "query": ",".join(values), "multi": True,
            "includeAll": True, "allValue": ".*", "hide": 0, "description": description,
            "current": {"text": ["All"], "value": ["$__all"]},
            "options": [{"text": v, "value": v, "selected": False} for v in values]}


def text_var(name: str, label: str, description: str) -> dict:
    return {"name": name, "label": label, "type": "textbox", "query": "", "hide": 0,
            "current": {"text": "", "value": ""}, "description": description}


JOB = query_var("job", "Job", "label_values(http_server_request_duration_seconds_count, job)",
                "Prometheus job of the instrumented service (Compose service name).",
                multi=False, default="backend")


# --- dashboard ----------------------------------------------------------------------------
def dashboard(uid: str, description: str, tags: list[str], items: list[dict], variables: list[dict],
              time_from: str = "now-1h", refresh: str = "30s") -> dict:
    title = DASHBOARDS[uid][0]
    panels, x, y, line_h = [], 0, 0, 0
    for pid, item in enumerate(items, start=1):
        w, h = item["gridPos"]["w"], item["gridPos"]["h"]
        if item["type"] == "row" or x + w > 24:  # new line
            x, y, line_h = 0, y + line_h, 0
        item = {"id": pid, **item, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        panels.append(item)
        x, line_h = x + w, max(line_h, h)
        if item["type"] == "row":
            x, y, line_h = 0, y + h, 0
    links = [{"title": "Vigil dashboards", "type": "dashboards", "tags": ["vigil"], "asDropdown": True,
              "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
              "tooltip": "", "url": ""}]
    links += [{"title": DASHBOARDS[other][0].split(" / ")[1], "type": "link", "url": f"/d/{other}",
               "keepTime": True, "includeVars": False, "asDropdown": False, "targetBlank": False,
               "icon": "dashboard", "tooltip": DASHBOARDS[other][0], "tags": []}
              for other in DASHBOARDS if other != uid]
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil", *tags],
        "editable": False, "graphTooltip": 1, "timezone": "browser", "schemaVersion": SCHEMA_VERSION,
        "version": 1, "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "links": links, "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "templating": {"list": variables}, "panels": panels,
    }


def backend_process_panels(sel: str) -> list[dict]:
    """Connection pool and unhandled exceptions of the backend (overview and infrastructure)."""
    none = 'label_replace(vector(0), "exception_type", "none", "", "")'  # a 0 line until the first one
    return [
        panel("timeseries", "Database connection pool", "Connections the backend has checked out of its "
              "SQLAlchemy pool, against the most the pool may open (size + overflow). At the limit, requests "
              "wait for a connection.",
              [prom(f"sum(db_pool_connections_in_use{{{sel}}})", "in use"),
               prom(f"sum(db_pool_connections_max{{{sel}}})", "max")], "short", w=12),
        panel("timeseries", "Unhandled exceptions", "Exceptions that escaped a request handler (answered 500), "
              "per interval and class; the logs panel shows their tracebacks.",
              [prom(f"sum by (exception_type) (increase(app_unhandled_exceptions_total{{{sel}}}"
                    f"[$__rate_interval])) or on () {none}", "{{exception_type}}")], "short", w=12,
              steps=thresholds(("green", None), ("red", 1))),
    ]


# --- 1. Service overview --------------------------------------------------------------------
def overview() -> dict:
    j = 'job="$job"'
    jr = 'job="$job", http_route=~"$route"'
    raw = 'job="$job", instance=~"$instance"'
    budget = SLO_ERROR_BUDGET
    items = [
        row("Golden signals (RED)"),
        panel("stat", "Request rate", "Requests per second handled by the service, all routes (5 m average).",
              [prom(f"sum(job:http_server_requests:rate5m{{{j}}})", "req/s")], "reqps", w=5, h=5),
        panel("stat", "Error ratio (5xx)", "Share of requests answered with a 5xx status over 5 m. "
              "4xx are client errors and are not counted.",
              [prom(f"job:http_server_requests_5xx:ratio_rate5m{{{j}}}", "5xx ratio")], "percentunit",
              w=5, h=5, steps=thresholds(("green", None), ("orange", 0.01), ("red", 0.05))),
        panel("stat", "p95 latency", "95th percentile of request duration over 5 m, all routes.",
              [prom(f"job:http_server_request_duration_seconds:p95_5m{{{j}}}", "p95")], "s", w=5, h=5,
              steps=thresholds(("green", None), ("orange", 0.5), ("red", 1))),
        panel("stat", "Requests in flight", "Requests being handled right now (all workers).",
              [prom(f"sum(http_server_active_requests{{{raw}}})", "in flight")], "short", w=4, h=5,
              steps=thresholds(("green", None), ("orange", 50), ("red", 100))),
        panel("stat", "Error budget left", f"Share of the 30-day availability error budget "
              f"({budget * 100:g} % of requests may fail) still unspent, extrapolated from the 3-day error "
              "ratio. Below 0 the SLO is broken.",
              [prom(f"1 - job:slo_availability_errors:ratio_rate3d{{{j}}} / {budget}", "budget left")],
              "percentunit", w=5, h=5, steps=thresholds(("red", None), ("orange", 0.25), ("green", 0.5))),
        panel("timeseries", "Request rate by status code", "Requests per second by HTTP status code.",
              [prom(f"sum by (http_response_status_code) (http_response_status_code:http_server_requests:rate5m{{{j}}})",
                    "{{http_response_status_code}}")], "reqps", stack=True),
        panel("timeseries", "Latency p50 / p95 / p99", "Request duration percentiles over all routes.",
              [prom(f"job:http_server_request_duration_seconds:p50_5m{{{j}}}", "p50"),
               prom(f"job:http_server_request_duration_seconds:p95_5m{{{j}}}", "p95"),
               prom(f"job:http_server_request_duration_seconds:p99_5m{{{j}}}", "p99")], "s",
              steps=thresholds(("green", None), ("red", 1))),
        panel("piechart", "Status code distribution", "Responses by status code over the dashboard's time range.",
              [prom(f"sum by (http_response_status_code) (increase(http_server_request_duration_seconds_count"
                    f"{{{raw}}}[$__range]))", "{{http_response_status_code}}", instant=True)], "short", w=8),
        panel("timeseries", "SLO burn rate", "How fast the availability error budget burns: 1 = exactly on "
              "budget for 30 days; 14.4 over 1 h (and 5 m) pages, 6 over 6 h (and 30 m) pages.",
              [prom(f"job:slo_availability_errors:ratio_rate5m{{{j}}} / {budget}", "5m"),
               prom(f"job:slo_availability_errors:ratio_rate1h{{{j}}} / {budget}", "1h"),
               prom(f"job:slo_availability_errors:ratio_rate6h{{{j}}} / {budget}", "6h")], "short", w=16,
              steps=thresholds(("green", None), ("orange", 6), ("red", 14.4))),
        row("Routes"),
        panel("timeseries", "Requests by route", "Requests per second per route template "
              "(\"unmatched\" = no route, e.g. scanners' 404s).",
              [prom(f"http_route:http_server_requests:rate5m{{{jr}}}", "{{http_route}}")], "reqps"),
        panel("timeseries", "p95 latency by route", "95th percentile request duration per route.",
              [prom(f"http_route:http_server_request_duration_seconds:p95_5m{{{jr}}}", "{{http_route}}")], "s"),
        panel("table", "Slowest routes", "The ten routes with the highest p95 latency now, with their "
              "request rate and 5xx ratio.",
              [prom(f"topk(10, http_route:http_server_request_duration_seconds:p95_5m{{{jr}}})", "p95 (s)",
                    instant=True, fmt="table"),
               prom(f"http_route:http_server_requests:rate5m{{{jr}}}", "req/s", instant=True, fmt="table"),
               prom(f"http_route:http_server_requests_5xx:ratio_rate5m{{{jr}}}", "5xx ratio", instant=True,
                    fmt="table")], "short", w=24),
        row("Errors and alerts"),
        panel("logs", "Recent error logs", "Error log lines of the service from Loki; a trace_id opens the "
              "trace in Jaeger.", [loki(f'{{service="$job", level=~"{ERROR_LEVELS}"}}')], w=14, h=10),
        panel("table", "Firing alerts", "Alerts Prometheus is firing now (silences and routing: Alertmanager "
              "under Alerting in Grafana's menu). Empty is good.",
              [prom('sum by (alertname, severity, service) (ALERTS{alertstate="firing"})', "",
                    instant=True, fmt="table")], w=10, h=10),
        *backend_process_panels(j),
    ]
    variables = [ds_var(), JOB,
                 query_var("instance", "Instance", 'label_values(http_server_active_requests{job="$job"}, instance)',
                           "Instances of the job (raw-metric panels only; recorded series are per job)."),
                 query_var("route", "Route", 'label_values(http_route:http_server_requests:rate5m{job="$job"}, http_route)',
                           "Route templates to show in the route panels.")]
    return dashboard("vigil-overview", "Is the service healthy? Request rate, errors and latency (RED), "
                     "SLO burn, error logs and firing alerts.", ["service", "red"], items, variables)


# --- 2. LLM cost and usage --------------------------------------------------------------
def llm() -> dict:
    s = 'job="$job", provider=~"$provider"'
    j = 'job="$job"'
    ri = "$__rate_interval"
    breaker = [{"type": "value", "options": {
        "0": {"text": "closed", "color": "green", "index": 0},
        "1": {"text": "half-open", "color": "orange", "index": 1},
        "2": {"text": "open", "color": "red", "index": 2}}}]
    items = [
        row("Cost"),
        panel("timeseries", "Cost per hour by provider", "US dollars spent on LLM calls in the trailing hour, "
              "stacked by provider.",
              [prom(f"sum by (provider) (provider_model:llm_cost_usd:increase1h{{{s}}})", "{{provider}}")],
              "currencyUSD", w=9, stack=True),
        panel("gauge", "Cost in 24 h vs budget", "Dollars spent in the trailing 24 hours as a share of the daily "
              "budget (recording rule vigil:llm_daily_budget_usd:constant in prometheus/rules).",
              [prom(f"sum(job:llm_cost_usd:increase1d{{{j}}}) / scalar(vigil:llm_daily_budget_usd:constant)",
                    "of budget")], "percentunit", w=5, lo=0, hi=1.2,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 1))),
        panel("timeseries", "Cost per call by provider", "Average dollars per successful LLM call.",
              [prom(f"sum by (provider) (rate(llm_cost_usd_total{{{s}}}[{ri}])) / sum by (provider) "
                    f"(rate(llm_requests_total{{{s}, status=\"success\"}}[{ri}]))", "{{provider}}")],
              "currencyUSD", w=10, custom={"decimals": 5}),
        panel("piechart", "Cost by agent", "Share of spend per agent over the dashboard's time range.",
              [prom(f"sum by (agent) (increase(llm_cost_usd_total{{{s}}}[$__range]))", "{{agent}}",
                    instant=True)], "currencyUSD", w=8),
        panel("timeseries", "Tokens per hour by model", "Billed tokens per hour (input + output), by model.",
              [prom(f"sum by (model) (provider_model_direction:llm_tokens:increase1h{{{s}}})", "{{model}}")],
              "short", w=8),
        panel("stat", "Cost in the last hour", "US dollars spent on LLM calls in the trailing hour.",
              [prom(f"sum(job:llm_cost_usd:increase1h{{{j}}})", "last hour")], "currencyUSD", w=4),
        panel("stat", "Context tokens saved", "Share of context tokens removed by the router's context "
              "minimisation before calling a model (1 h).",
              [prom(f"job:router_context_tokens_saved:ratio_rate1h{{{j}}}", "saved")], "percentunit", w=4,
              steps=SAVINGS),
        row("Calls, latency and errors"),
        panel("timeseries", "Calls per minute by agent", "LLM calls per minute (cache hits included), by agent.",
              [prom(f"sum by (agent) (rate(llm_requests_total{{{s}}}[{ri}])) * 60", "{{agent}}")], "reqpm", w=8),
        panel("timeseries", "Latency p50 / p95 by provider", "LLM call latency percentiles per provider.",
              [prom(f"histogram_quantile(0.5, sum by (provider, le) (rate(llm_request_duration_seconds_bucket"
                    f"{{{s}}}[{ri}])))", "p50 {{provider}}"),
               prom(f"histogram_quantile(0.95, sum by (provider, le) (rate(llm_request_duration_seconds_bucket"
                    f"{{{s}}}[{ri}])))", "p95 {{provider}}")], "s", w=8),
        panel("timeseries", "Error ratio by agent", "Failed LLM calls / all calls per agent (0 when none failed).",
              [prom(f"(sum by (agent) (rate(llm_requests_total{{{s}, status=\"error\"}}[{ri}])) or sum by (agent) "
                    f"(rate(llm_requests_total{{{s}}}[{ri}])) * 0) / sum by (agent) "
                    f"(rate(llm_requests_total{{{s}}}[{ri}]))", "{{agent}}")], "percentunit", w=8,
              steps=thresholds(("green", None), ("red", 0.1))),
        panel("timeseries", "Error ratio by provider", "Failed calls (circuit_open included) / all calls, "
              "per provider (5 m).",
              [prom(f"provider:llm_errors:ratio_rate5m{{{s}}}", "{{provider}}")], "percentunit", w=8,
              steps=thresholds(("green", None), ("red", 0.1))),
        panel("timeseries", "Errors by type", "Failed LLM calls per second by error type and provider.",
              [prom(f"sum by (provider, error_type) (rate(llm_errors_total{{{s}}}[{ri}]))",
                    "{{provider}} {{error_type}}")], "reqps", w=8, stack=True),
        panel("timeseries", "Cache hits and misses", "Response-cache lookups per second before an LLM call.",
              [prom(f"sum by (result) (rate(llm_cache_lookups_total{{{s}}}[{ri}]))", "{{result}}")],
              "reqps", w=8, stack=True),
        panel("stat", "Cache hit ratio", "Share of lookups answered from the cache (30 m).",
              [prom(f"job:llm_cache_hits:ratio_rate30m{{{j}}}", "hit ratio")], "percentunit", w=4),
        panel("stat", "Circuit breakers", "Provider circuit breaker state now: closed (calls flow), half-open "
              "(one trial call), open (calls fail fast with circuit_open).",
              [prom(f"max by (provider) (circuit_breaker_state{{{s}}})", "{{provider}}")], "short", w=4,
              mappings=breaker, steps=thresholds(("green", None), ("orange", 1), ("red", 2))),
        panel("heatmap", "LLM latency histogram", "Distribution of LLM call latency over time (all providers).",
              [prom(f"sum by (le) (increase(llm_request_duration_seconds_bucket{{{s}}}[{ri}]))", "{{le}}",
                    fmt="heatmap")], "s", w=16),
        panel("timeseries", "Circuit breaker transitions", "State changes of provider circuit breakers.",
              [prom(f"sum by (provider, to_state) (increase(circuit_breaker_transitions_total{{{s}}}[{ri}]))",
                    "{{provider}} -> {{to_state}}")], "short", w=24),
        row("Router"),
        panel("piechart", "Routing decisions by intent", "What the router classified calls as.",
              [prom(f"sum by (intent) (increase(router_decisions_total{{{j}}}[$__range]))", "{{intent}}",
                    instant=True)], w=6),
        panel("piechart", "Routing decisions by model", "Which model the router picked.",
              [prom(f"sum by (model) (increase(router_decisions_total{{{j}}}[$__range]))", "{{model}}",
                    instant=True)], w=6),
        panel("piechart", "Routing decisions by risk", "Risk level the router assigned.",
              [prom(f"sum by (risk_level) (increase(router_decisions_total{{{j}}}[$__range]))", "{{risk_level}}",
                    instant=True)], w=6),
        panel("stat", "Tokens saved per hour", "Context tokens not sent to a model thanks to minimisation.",
              [prom(f"(sum(rate(router_context_tokens_total{{{j}, stage=\"before\"}}[{ri}])) - "
                    f"sum(rate(router_context_tokens_total{{{j}, stage=\"after\"}}[{ri}]))) * 3600", "tokens/h")],
              "short", w=6),
        panel("timeseries", "Routing latency by intent", "Time the router takes to classify, pick a model and "
              "minimise the context, p50 and p95 per intent (5 m). RoutingLatencyHigh fires above "
              "vigil:routing_latency_p95_max_seconds:constant (prometheus/rules/thresholds.yml).",
              [prom(f"intent:router_decision_duration_seconds:p50_5m{{{j}}}", "p50 {{intent}}"),
               prom(f"intent:router_decision_duration_seconds:p95_5m{{{j}}}", "p95 {{intent}}")], "s", w=8),
        panel("timeseries", "Token savings by intent", "Share of context tokens the router removed before the "
              "call, per intent (1 h). TokenSavingsLow watches the total.",
              [prom(f"intent:router_context_tokens_saved:ratio_rate1h{{{j}}}", "{{intent}}")], "percentunit",
              w=8, lo=0, hi=1, steps=SAVINGS),
        panel("timeseries", "LLM latency p95 by intent", "95th percentile of LLM call latency per routed intent.",
              [prom(f"histogram_quantile(0.95, sum by (intent, le) (rate(llm_request_duration_seconds_bucket"
                    f"{{{s}}}[{ri}])))", "{{intent}}")], "s", w=8),
    ]
    variables = [ds_var(), JOB,
                 query_var("provider", "Provider", 'label_values(llm_requests_total{job="$job"}, provider)',
                           "LLM providers to include.")]
    return dashboard("vigil-llm", "What do LLM calls cost and how do they behave? Spend against budget, "
                     "tokens, latency, errors, cache, routing and circuit breakers.", ["llm", "cost"], items,
                     variables)


# --- 3. Workflows and agents --------------------------------------------------------------
def workflows() -> dict:
    j = 'job="$job"'
    t = 'job="$job", tenant=~"$tenant"'
    a = 'job="$job", agent=~"$agent"'
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
    variables = [ds_var(), JOB,
                 query_var("tenant", "Tenant", 'label_values(workflow_runs_total{job="$job"}, tenant)',
                           "Tenants to include (configured set; others count as \"other\")."),
                 query_var("agent", "Agent", 'label_values(agent_executions_total{job="$job"}, agent)',
                           "Agents to include.")]
    return dashboard("vigil-workflows", "Are workflows finishing, how fast, and which agents fail? Runs, "
                     "success ratio, durations and per-agent executions.", ["llm", "workflows"], items, variables)


# --- 4. Infrastructure -------------------------------------------------------------------------
def infrastructure() -> dict:
    n = 'job="node-exporter", instance=~"$node"'
    ri = "$__rate_interval"
    fs = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|overlay|nsfs|fuse.*|autofs"'
    pg = 'job="postgres-exporter"'
    # Mean seconds per call of each statement over the range, and its text (queryid -> query).
    pg_mean = (f"sum by (datname, queryid) (increase(pg_stat_statements_seconds_total{{{pg}}}[$__range])) / "
               f"sum by (datname, queryid) (increase(pg_stat_statements_calls_total{{{pg}}}[$__range])) > 0")
    pg_text = f"max by (queryid, query) (pg_stat_statements_query_id{{{pg}}})"
    rd = 'job="redis-exporter"'
    up_map = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                             "1": {"text": "up", "color": "green", "index": 1}}}]
    updown = thresholds(("red", None), ("green", 1))
    items = [
        row("Host (node-exporter)"),
        panel("timeseries", "CPU busy", "Share of CPU time not idle, averaged over all cores.",
              [prom(f"1 - avg by (instance) (rate(node_cpu_seconds_total{{{n}, mode=\"idle\"}}[{ri}]))",
                    "{{instance}}")], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.95))),
        panel("timeseries", "Memory used", "Share of memory not available to new programs.",
              [prom(f"1 - node_memory_MemAvailable_bytes{{{n}}} / node_memory_MemTotal_bytes{{{n}}}",
                    "{{instance}}")], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.85), ("red", 0.95))),
        panel("bargauge", "Disk used", "Share of each real filesystem in use.",
              [prom(f"1 - node_filesystem_avail_bytes{{{n}, {fs}}} / node_filesystem_size_bytes{{{n}, {fs}}}",
                    "{{mountpoint}}", instant=True)], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.9))),
        panel("timeseries", "Network traffic", "Bytes per second received (+) and sent (-) per interface.",
              [prom(f"sum by (device) (rate(node_network_receive_bytes_total{{{n}}}[{ri}]))", "rx {{device}}"),
               prom(f"-sum by (device) (rate(node_network_transmit_bytes_total{{{n}}}[{ri}]))", "tx {{device}}")],
              "Bps", w=6),
        panel("timeseries", "Load average", "1-minute load average against the number of CPUs.",
              [prom(f"node_load1{{{n}}}", "load1"),
               prom(f"count by (instance) (node_cpu_seconds_total{{{n}, mode=\"idle\"}})", "cpus")], "short", w=12),
        panel("timeseries", "Disk I/O", "Bytes per second read and written, all block devices.",
              [prom(f"sum(rate(node_disk_read_bytes_total{{{n}}}[{ri}]))", "read"),
               prom(f"sum(rate(node_disk_written_bytes_total{{{n}}}[{ri}]))", "written")], "Bps", w=12),
        row("PostgreSQL"),
        panel("stat", "PostgreSQL up", "Whether postgres-exporter can reach the database.",
              [prom(f"pg_up{{{pg}}}", "up")], "short", w=4, mappings=up_map, steps=updown),
        panel("timeseries", "Connections", "Server connections by database and state, against max_connections.",
              [prom(f"sum by (datname) (pg_stat_activity_count{{{pg}}})", "{{datname}}"),
               prom(f"max(pg_settings_max_connections{{{pg}}})", "max_connections")], "short", w=10),
        panel("timeseries", "Transactions", "Commits and rollbacks per second, all databases.",
              [prom(f"sum(rate(pg_stat_database_xact_commit{{{pg}}}[{ri}]))", "commits"),
               prom(f"sum(rate(pg_stat_database_xact_rollback{{{pg}}}[{ri}]))", "rollbacks")], "ops", w=10),
        panel("bargauge", "Database size", "On-disk size of each database.",
              [prom(f"pg_database_size_bytes{{{pg}, datname!~\"template.*\"}}", "{{datname}}", instant=True)],
              "bytes", w=8),
        panel("table", "Table sizes", "Tables of the app database by total size (data + indexes + TOAST).",
              [sql("SELECT relname AS \"table\", pg_total_relation_size(relid) AS total_bytes, "
                   "pg_relation_size(relid) AS data_bytes, n_live_tup AS live_rows "
                   "FROM pg_stat_user_tables ORDER BY total_bytes DESC LIMIT 20")], "bytes", w=16),
        panel("table", "Slowest statements", "Statements of the app database with the highest mean time, from "
              "pg_stat_statements (needs shared_preload_libraries=pg_stat_statements).",
              [sql("SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 140) AS statement, s.calls, "
                   "round(s.mean_exec_time::numeric, 2) AS mean_ms, round(s.total_exec_time::numeric, 1) AS total_ms, "
                   "s.rows FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                   "WHERE d.datname = current_database() ORDER BY s.mean_exec_time DESC LIMIT 10")],
              "short", w=24),
        panel("table", "Slowest queries", "Statements with the highest mean time over the dashboard's range, "
              "with their total time (postgres-exporter's stat_statements collector; every database).",
              [prom(f"topk(10, {pg_mean}) * on (queryid) group_left (query) {pg_text}", "mean", True, "table"),
               prom(f"(sum by (datname, queryid) (increase(pg_stat_statements_seconds_total{{{pg}}}[$__range]))"
                    f" and on (datname, queryid) topk(10, {pg_mean})) * on (queryid) group_left (query) {pg_text}",
                    "total", True, "table")], "s", w=24),
        row("Redis"),
        panel("stat", "Redis up", "Whether redis-exporter can reach Redis.",
              [prom(f"redis_up{{{rd}}}", "up")], "short", w=4, mappings=up_map, steps=updown),
        panel("timeseries", "Redis memory", "Memory used by Redis.",
              [prom(f"redis_memory_used_bytes{{{rd}}}", "used")], "bytes", w=6),
        panel("timeseries", "Redis commands", "Commands processed per second.",
              [prom(f"rate(redis_commands_processed_total{{{rd}}}[{ri}])", "commands")], "ops", w=7),
        panel("timeseries", "Redis clients and keys", "Connected clients and keys held (rate-limit windows, "
              "cache entries, blocks).",
              [prom(f"redis_connected_clients{{{rd}}}", "clients"),
               prom(f"sum(redis_db_keys{{{rd}}})", "keys")], "short", w=7),
        row("Monitoring stack"),
        panel("table", "Scrape targets", "Every Prometheus target and whether its last scrape worked.",
              [prom("up", "", instant=True, fmt="table")], "short", w=8, mappings=up_map, steps=updown),
        panel("timeseries", "Prometheus head series", "Series in Prometheus' in-memory head block (cardinality).",
              [prom('prometheus_tsdb_head_series{job="prometheus"}', "series")], "short", w=8),
        panel("timeseries", "Rule evaluation failures", "Recording and alerting rule evaluations that failed.",
              [prom(f"sum(rate(prometheus_rule_evaluation_failures_total{{job=\"prometheus\"}}[{ri}]))", "failures")],
              "ops", w=8, steps=thresholds(("green", None), ("red", 0.001))),
        panel("timeseries", "Alertmanager alerts", "Alerts Alertmanager holds, by state.",
              [prom('sum by (state) (alertmanager_alerts{job="alertmanager"})', "{{state}}")], "short", w=12),
        panel("timeseries", "Alert notifications", "Notifications sent and failed per second, by integration.",
              [prom(f"sum by (integration) (rate(alertmanager_notifications_total{{job=\"alertmanager\"}}[{ri}]))",
                    "sent {{integration}}"),
               prom(f"sum by (integration) (rate(alertmanager_notifications_failed_total{{job=\"alertmanager\"}}[{ri}]))",
                    "failed {{integration}}")], "ops", w=12),
        row("Backend process"),
        *backend_process_panels('job="backend"'),
    ]
    variables = [ds_var(),
                 query_var("node", "Host", 'label_values(node_uname_info{job="node-exporter"}, instance)',
                           "node-exporter instances (hosts).")]
    return dashboard("vigil-infra", "Is the platform healthy? Host CPU, memory, disk and network; PostgreSQL, "
                     "Redis, and the monitoring stack itself.", ["infrastructure"], items, variables)


# --- 5. Logs -------------------------------------------------------------------------------
def logs() -> dict:
    sel = 'service=~"$service", level=~"$level"'
    items = [
        panel("timeseries", "Log volume by level", "Log lines per interval, by level.",
              [loki(f"sum by (level) (count_over_time({{{sel}}}[$__interval]))", "{{level}}")], "short",
              w=12, stack=True, custom={"drawStyle": "bars"}),
        panel("timeseries", "Log volume by service", "Log lines per interval, by Compose service.",
              [loki(f"sum by (service) (count_over_time({{{sel}}}[$__interval]))", "{{service}}")], "short",
              w=12, stack=True, custom={"drawStyle": "bars"}),
        panel("logs", "Error logs", "Error and critical lines of the selected services.",
              [loki(f'{{service=~"$service", level=~"{ERROR_LEVELS}"}}')], w=24, h=9),
        panel("logs", "Search by request id or trace id", "Lines containing the text of the Search box (a "
              "request_id, a trace_id, or any text). The trace_id field links to the trace in Jaeger.",
              [loki(f'{{{sel}}} |= "$search"')], w=24, h=12),
    ]
    variables = [
        query_var("service", "Service", "label_values(service)", "Compose services whose logs Alloy collects.",
                  ds=LOKI),
        custom_var("level", "Level", ["debug", "info", "warn", "warning", "error", "critical", "fatal"],
                   "Log levels to show (Alloy lower-cases them; Go services say warn, Python warning)."),
        text_var("search", "Search", "A request_id or trace_id (or any text) to find in the log lines."),
    ]
    return dashboard("vigil-logs", "What did the services log? Volume by level and service, errors, and a "
                     "request-id / trace-id search that links to traces.", ["logs"], items, variables)


# --- 6. Security ------------------------------------------------------------------------------
def security() -> dict:
    j = 'job="$job"'
    ri = "$__rate_interval"
    items = [
        panel("stat", "Clients blocked", "Clients put on the block list over the dashboard's range "
              "(after repeated security events).",
              [prom(f"sum(increase(security_blocks_total{{{j}}}[$__range]))", "blocks", instant=True)], "short",
              w=6, h=5, steps=thresholds(("green", None), ("red", 1))),
        panel("stat", "Blocked requests", "Requests refused with 403 because their client is blocked, "
              "over the dashboard's range.",
              [prom(f"sum(increase(security_blocked_requests_total{{{j}}}[$__range]))", "403s", instant=True)],
              "short", w=6, h=5, steps=thresholds(("green", None), ("orange", 1))),
        panel("stat", "Auth failures", "Requests refused with 401 over the dashboard's range.",
              [prom(f"sum(increase(auth_failures_total{{{j}}}[$__range]))", "401s", instant=True)], "short",
              w=6, h=5, steps=thresholds(("green", None), ("orange", 10))),
        panel("stat", "Rate-limited requests", "Requests refused with 429 over the dashboard's range.",
              [prom(f"sum(increase(rate_limit_rejections_total{{{j}}}[$__range]))", "429s", instant=True)],
              "short", w=6, h=5, steps=thresholds(("green", None), ("orange", 10))),
        panel("timeseries", "Rate-limit rejections by route", "429 answers per second, by route template.",
              [prom(f"sum by (http_route) (rate(rate_limit_rejections_total{{{j}}}[{ri}]))", "{{http_route}}")],
              "reqps", w=12),
        panel("timeseries", "Auth failures by reason", "401 answers per second: key missing or invalid.",
              [prom(f"sum by (reason) (rate(auth_failures_total{{{j}}}[{ri}]))", "{{reason}}")], "reqps", w=12),
        panel("timeseries", "Security events by type", "Probes and abuse per second: path traversal, SQL "
              "injection patterns, rate-limit and auth abuse.",
              [prom(f"sum by (event_type) (rate(security_events_total{{{j}}}[{ri}]))", "{{event_type}}")],
              "reqps", w=12, stack=True),
        panel("timeseries", "Blocked requests per second", "403 answers per second to blocked clients.",
              [prom(f"sum(rate(security_blocked_requests_total{{{j}}}[{ri}]))", "403/s")], "reqps", w=12),
        panel("timeseries", "4xx by route and status", "Client errors per second by route and status "
              "(the HTTP metrics carry no tenant label: see the Workflows dashboard for tenants).",
              [prom(f"sum by (http_route, http_response_status_code) (rate(http_server_request_duration_seconds_count"
                    f"{{{j}, http_response_status_code=~\"4..\"}}[{ri}]))",
                    "{{http_route}} {{http_response_status_code}}")], "reqps", w=12),
        panel("bargauge", "Failed workflow runs by tenant", "Failed workflow runs per tenant over the range.",
              [prom(f"sum by (tenant) (increase(workflow_runs_total{{{j}, status=\"failed\"}}[$__range]))",
                    "{{tenant}}", instant=True)], "short", w=12),
        panel("logs", "Security log", "Security events and blocks logged by the backend (logger \"security\").",
              [loki('{service="$job", level=~"warning|error"} |= "security"')], w=24, h=9),
    ]
    variables = [ds_var(), JOB]
    return dashboard("vigil-security", "Is anyone abusing the service? Rate limiting, auth failures, probes, "
                     "blocked clients and client errors by route.", ["security"], items, variables)


# --- 7. Business analytics (SQL) ---------------------------------------------------------------
def business() -> dict:
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


# --- Runbooks ----------------------------------------------------------------------------------
def runbook_uid(alert: str) -> str:
    """The uid of an alert's runbook dashboard; alert rules link to /d/<this> (runbook_url annotation)."""
    uid = f"runbook-{alert.lower()}"
    assert len(uid) <= 40, f"{uid}: Grafana uids have at most 40 characters"
    return uid


def runbook(path: Path) -> dict:
    """docs/runbooks/<Alert>.md as a dashboard holding one markdown panel: the alert's Slack link opens
    it in Grafana, where the on-call person already is, with no public repository needed."""
    board = dashboard("vigil-overview", f"Runbook of the {path.stem} alert (from docs/runbooks/{path.name}).",
                      [], [], [], refresh="")
    text = {"type": "text", "title": "", "description": "", "id": 1, "gridPos": {"x": 0, "y": 0, "w": 24, "h": 30},
            "options": {"mode": "markdown", "content": path.read_text()}}
    return {**board, "uid": runbook_uid(path.stem), "title": f"Runbook / {path.stem}", "tags": ["runbook"],
            "links": board["links"][:1], "panels": [text]}


BUILDERS = {"vigil-overview": overview, "vigil-llm": llm, "vigil-workflows": workflows,
            "vigil-infra": infrastructure, "vigil-logs": logs, "vigil-security": security,
            "vigil-business": business}


def render() -> dict[Path, str]:
    """Every dashboard file's path and exact text."""
    files = {}
    for uid, build in BUILDERS.items():
        _, folder, name = DASHBOARDS[uid]
        files[OUT / folder / f"{name}.json"] = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    for path in sorted(RUNBOOKS.glob("*.md")):
        files[OUT / "runbooks" / f"{path.stem}.json"] = json.dumps(runbook(path), indent=2, ensure_ascii=False) + "\n"
    return files


def main() -> None:
    files = render()
    if "--check" in sys.argv[1:]:
        on_disk = set(OUT.glob("*/*.json"))
        stale = sorted(str(p) for p in on_disk ^ set(files)) + sorted(
            str(p) for p, text in files.items() if p.exists() and p.read_text() != text)
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        if stale:
            sys.exit("dashboards differ from grafana/generate.py: run python grafana/generate.py")
        return
    for stale in OUT.glob("*/*.json"):
        if stale not in files:
            stale.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
