"""Security (vigil-security): rate limiting, auth failures, probes, blocked clients, 4xx by route."""
from __future__ import annotations

from .build import service_var, dashboard, ds_var, loki, panel, prom, thresholds


def build() -> dict:
    j = 'job="$service"'
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
              [loki('{service="$service", level=~"warning|error"} |= "security"')], w=24, h=9),
    ]
    variables = [ds_var(), service_var()]
    return dashboard("vigil-security", "Is anyone abusing the service? Rate limiting, auth failures, probes, "
                     "blocked clients and client errors by route.", ["security"], items, variables)
