"""Service overview (vigil-overview): RED signals, SLO burn, error logs and firing alerts of one job."""
from __future__ import annotations

from .build import (ERROR_LEVELS, service_var, process_panels, dashboard, ds_var, loki, panel, prom, query_var,
                    row, thresholds)

# Exemplars hang on the raw classic buckets (recording rules keep none), so the latency panels add one query
# over them with Grafana's exemplars on.
EXEMPLAR_BUCKETS = "http_server_request_duration_seconds_bucket"


def build() -> dict:
    j = 'job="$service"'
    jr = 'job="$service", http_route=~"$route"'
    raw = 'job="$service", instance=~"$instance"'
    slo = 'job="$service"'
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
        panel("stat", "Error budget left", "Share of each SLO's error budget (vigil.toml's [service.slo]: "
              "availability = not 5xx, latency = faster than latency_threshold) still unspent over the SLO's "
              "whole period (30 days by default), from the period's error ratio "
              "(slo:period_error_budget_remaining:ratio). Below 0 the SLO is broken.",
              [prom(f"slo:period_error_budget_remaining:ratio{{{slo}}}", "{{slo}}")],
              "percentunit", w=5, h=5, steps=thresholds(("red", None), ("orange", 0.25), ("green", 0.5))),
        panel("timeseries", "Request rate by status code", "Requests per second by HTTP status code.",
              [prom(f"sum by (http_response_status_code) (http_response_status_code:http_server_requests:rate5m{{{j}}})",
                    "{{http_response_status_code}}")], "reqps", stack=True),
        panel("timeseries", "Latency p50 / p95 / p99", "Request duration percentiles over all routes. The dots "
              "are exemplars: one sampled request each, with its trace id (click to open the trace in Jaeger). "
              "Single-process services only: prometheus_client keeps no exemplars in multiprocess mode.",
              [prom(f"job:http_server_request_duration_seconds:p50_5m{{{j}}}", "p50"),
               prom(f"job:http_server_request_duration_seconds:p95_5m{{{j}}}", "p95"),
               prom(f"job:http_server_request_duration_seconds:p99_5m{{{j}}}", "p99"),
               prom(f"histogram_quantile(0.95, sum by (le) (rate({EXEMPLAR_BUCKETS}{{{raw}}}[$__rate_interval])))",
                    "p95 (raw, exemplars)", exemplar=True)], "s",
              steps=thresholds(("green", None), ("red", 1))),
        panel("piechart", "Status code distribution", "Responses by status code over the dashboard's time range.",
              [prom(f"sum by (http_response_status_code) (increase(http_server_request_duration_seconds_count"
                    f"{{{raw}}}[$__range]))", "{{http_response_status_code}}", instant=True)], "short", w=8),
        panel("timeseries", "SLO burn rate", "How fast each SLO's error budget burns (error ratio / budget): "
              "1 = spending exactly the budget over the period; 14.4 over 1 h (and 5 m) or 6 over 6 h (and 30 m) "
              "pages (ErrorBudgetBurnFast, LatencyBudgetBurnFast).",
              [prom(f"slo:sli_error:ratio_rate{w}{{{slo}}} / on (job, slo) slo:error_budget:ratio{{{slo}}}",
                    f"{{{{slo}}}} {w}") for w in ("5m", "1h", "6h")], "short", w=16,
              steps=thresholds(("green", None), ("orange", 6), ("red", 14.4))),
        row("Routes"),
        panel("timeseries", "Requests by route", "Requests per second per route template "
              "(\"unmatched\" = no route, e.g. scanners' 404s).",
              [prom(f"http_route:http_server_requests:rate5m{{{jr}}}", "{{http_route}}")], "reqps"),
        panel("timeseries", "p95 latency by route", "95th percentile request duration per route; the dots are "
              "exemplars (sampled requests' trace ids).",
              [prom(f"http_route:http_server_request_duration_seconds:p95_5m{{{jr}}}", "{{http_route}}"),
               prom(f"histogram_quantile(0.95, sum by (http_route, le) (rate({EXEMPLAR_BUCKETS}"
                    f"{{{jr}, instance=~\"$instance\"}}[$__rate_interval])))", "{{http_route}} (raw, exemplars)",
                    exemplar=True)], "s"),
        panel("table", "Slowest routes", "The ten routes with the highest p95 latency now, with their "
              "request rate and 5xx ratio.",
              [prom(f"topk(10, http_route:http_server_request_duration_seconds:p95_5m{{{jr}}})", "p95 (s)",
                    instant=True, fmt="table"),
               prom(f"http_route:http_server_requests:rate5m{{{jr}}}", "req/s", instant=True, fmt="table"),
               prom(f"http_route:http_server_requests_5xx:ratio_rate5m{{{jr}}}", "5xx ratio", instant=True,
                    fmt="table")], "short", w=24),
        row("Errors and alerts"),
        panel("logs", "Recent error logs", "Error log lines of the service from Loki; a trace_id opens the "
              "trace in Jaeger.", [loki(f'{{service="$service", level=~"{ERROR_LEVELS}"}}')], w=14, h=10),
        panel("table", "Firing alerts", "Alerts Prometheus is firing now (silences and routing: Alertmanager "
              "under Alerting in Grafana's menu). Empty is good.",
              [prom('sum by (alertname, severity, service) (ALERTS{alertstate="firing"})', "",
                    instant=True, fmt="table")], w=10, h=10),
        *process_panels(j),
    ]
    variables = [ds_var(), service_var(),
                 query_var("instance", "Instance", 'label_values(http_server_active_requests{job="$service"}, instance)',
                           "Instances of the job (raw-metric panels only; recorded series are per job)."),
                 query_var("route", "Route", 'label_values(http_route:http_server_requests:rate5m{job="$service"}, http_route)',
                           "Route templates to show in the route panels.")]
    return dashboard("vigil-overview", "Is the service healthy? Request rate, errors and latency (RED), "
                     "SLO burn, error logs and firing alerts.", ["service", "red"], items, variables)
