"""Every Prometheus query of every dashboard panel returns data within 3 minutes of the default demo.

Real programs (conftest.py): Prometheus 3.13 (make tools) with the shipped prometheus.yml (targets
rewritten) and rules, the backend on PostgreSQL + Redis, node/postgres/redis exporters, Alertmanager
0.33, and the project's load generator, all as `make up` configures them from .env.example: no
traffic of the test's own and no panel allowed to stay empty. Queries are expanded as
Grafana would ($__rate_interval, $__interval, $__range, template variables at their
defaults) and sent as Grafana sends them: query_range over the dashboard's time range for
time series, an instant query for instant targets.
"""
from __future__ import annotations

import json
import time
import urllib.parse

from harness import http_get, wait_until

from .conftest import SUMMARY
from .panels import all_panels, dashboards, datasources, expand, range_seconds, interval_seconds, variables

DEMO_DEADLINE = 180   # seconds after the load generator started: the demo's promise
# The story the default demo must tell within the deadline: real events, not only initialised zeros.
STORY = {
    "wrong API keys": 'auth_failures_total{reason="invalid"}',
    "missing API keys": 'auth_failures_total{reason="missing"}',
    "probes": 'security_events_total{event_type=~"path_traversal|sql_injection"}',
    "rate-limited requests": "rate_limit_rejections_total",
    "a block": "security_blocks_total",
    "blocked requests": "security_blocked_requests_total",
    "provider failures": "llm_errors_total",
    "a breaker opening": 'circuit_breaker_transitions_total{to_state="open"}',
    "the breaker closing again": 'circuit_breaker_transitions_total{from_state="half_open", to_state="closed"}',
    "5xx answers": 'http_server_request_duration_seconds_count{http_response_status_code=~"5.."}',
}


def prom_api(base: str, path: str, params: dict) -> list:
    code, body = http_get(f"{base}{path}?" + urllib.parse.urlencode(params, doseq=True), timeout=15)
    data = json.loads(body)
    if code != 200 or data.get("status") != "success":
        raise AssertionError(f"{path} {params} failed: {code} {body[:400]!r}")
    return data["data"]


def run_target(base: str, expr: str, instant: bool, dash: dict, sources: dict) -> bool:
    """True when the query returns at least one sample, the way Grafana would ask for it."""
    now = time.time()
    if instant:
        return bool(prom_api(base, "/api/v1/query", {"query": expr, "time": now})["result"])
    step = interval_seconds(dash, sources)
    data = prom_api(base, "/api/v1/query_range", {"query": expr, "start": now - range_seconds(dash),
                                                   "end": now, "step": step})
    return any(series["values"] for series in data["result"])


def label_values(base: str, query: str) -> list[str]:
    """Grafana's label_values(selector, label) through the labels API."""
    inner = query[len("label_values("):-1]
    selector, label = inner.rsplit(",", 1)
    return prom_api(base, f"/api/v1/label/{label.strip()}/values", {"match[]": selector.strip()})


def test_every_prometheus_panel_returns_data(stack):
    base = stack.prom.base_url
    sources = datasources()
    panels = []   # (dash uid, title, [(expanded expr, instant)], dash)
    var_queries = []
    for dash in dashboards().values():
        for panel in all_panels(dash):
            targets = [t for t in panel.get("targets", []) if "expr" in t
                       and (t.get("datasource") or panel["datasource"])["type"] == "prometheus"]
            if targets:
                panels.append((dash["uid"], panel["title"],
                               [(expand(t["expr"], dash, sources), bool(t.get("instant"))) for t in targets], dash))
        for name, var in variables(dash).items():
            if var["type"] == "query" and var["datasource"]["type"] == "prometheus":
                var_queries.append((dash["uid"], name, expand(var["query"]["query"], dash, sources), var))
    assert len(panels) >= 60, f"only {len(panels)} Prometheus panels found"

    with_data: set[tuple[str, str]] = set()

    def missing():
        for uid, title, targets, dash in panels:
            if (uid, title) in with_data:
                continue
            # A panel "returns data" when every one of its queries does.
            if all(run_target(base, expr, instant, dash, sources) for expr, instant in targets):
                with_data.add((uid, title))
        return [(u, t) for u, t, _, _ in panels if (u, t) not in with_data]

    left = DEMO_DEADLINE - (time.monotonic() - stack.loadgen.started_at)
    try:
        wait_until(lambda: not missing(), timeout=max(left, 1), interval=3, message="every panel to return data")
    except TimeoutError:
        lines = [f"{u} / {t}: {[e for e, _ in targets]}" for u, t, targets, _ in panels if (u, t) not in with_data]
        raise AssertionError(f"{len(with_data)} of {len(panels)} panels have data {DEMO_DEADLINE} s into the "
                             "default demo; no data:\n" + "\n".join(lines)) from None
    waited = time.monotonic() - stack.loadgen.started_at

    for uid, name, query, var in var_queries:
        values = label_values(base, query)
        assert values, f"{uid}: variable ${name} ({query}) has no values"
        default = var.get("current", {}).get("value")
        assert default == ["$__all"] or default in values, f"{uid}: ${name} default {default!r} not in {values}"

    SUMMARY.append(f"{len(with_data)} of {len(panels)} Prometheus panels returned data {waited:.0f} s into "
                   f"the default demo (load generator start); {len(var_queries)} variables have values")
    assert len(with_data) == len(panels)

    def untold():
        return [what for what, selector in STORY.items()
                if not prom_api(base, "/api/v1/query", {"query": f"sum({selector}) > 0"})["result"]]
    left = DEMO_DEADLINE - (time.monotonic() - stack.loadgen.started_at)
    try:
        wait_until(lambda: not untold(), timeout=max(left, 1), interval=3, message="the demo's events")
    except TimeoutError:
        told = [line for line in stack.loadgen.log().splitlines() if "abuse episode" in line or "fault burst" in line]
        raise AssertionError(f"{DEMO_DEADLINE} s into the default demo, no {untold()} yet; the load generator "
                             "said:\n" + "\n".join(told)) from None
    SUMMARY.append(f"every event of the demo's story happened {time.monotonic() - stack.loadgen.started_at:.0f} s "
                   f"into it: {', '.join(STORY)}")
