"""The shipped prometheus.yml and rules, live.

Runs real programs: PostgreSQL and Redis (session fixtures), the backend on them
(uvicorn), node_exporter, postgres_exporter (stat_statements on, as in Compose),
redis_exporter, alertmanager and prometheus 3.13 (make tools: the pinned releases) loading
prometheus/prometheus.yml with only its target addresses rewritten to loopback ports
(scrape and evaluation intervals unchanged: backend every 5 s, rules every 15 s).
Traffic and an error burst (PUT /api/admin/faults) are sent over HTTP by the test.
"""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest
import yaml

from harness import http_get, promrules, wait_until
from harness.monitoring import (
    StaticExporter, promql, rewrite_targets, start_alertmanager, start_node_exporter, start_postgres_exporter,
    start_prometheus, start_redis_exporter, wait_for_targets_up,
)

# The burst goes to one route nothing else calls, so its ratio is ours alone.
BURST_ROUTE = "/api/stats/real-time"
BURST_ERROR_RATE = 0.3
BURST_REQUESTS = 150
# The route's 200 and 503 series are created before Prometheus starts, with about 100 requests
# each: every one of their samples then falls on the same scrapes and rate() extrapolates them
# by the same factor, so the recorded ratio equals the burst's exact ratio.
PRIME_REQUESTS = 200
# Over the whole job the other routes' series are primed with few requests, so their
# extrapolation differs a little: that ratio is only close to the one sent.
JOB_TOLERANCE = 0.02
AM_CONFIG = "route:\n  receiver: discard\nreceivers:\n  - name: discard\n"


def call(method: str, url: str, body=None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def shipped_targets() -> dict[str, str]:
    """{job: its target in prometheus.yml}."""
    config = yaml.safe_load((promrules.PROMETHEUS_DIR / "prometheus.yml").read_text())
    return {job["job_name"]: job["static_configs"][0]["targets"][0] if "static_configs" in job
            else f'{job["dns_sd_configs"][0]["names"][0]}:{job["dns_sd_configs"][0]["port"]}'
            for job in config["scrape_configs"]}


def rules_api(prom) -> list[dict]:
    _, body = http_get(prom.base_url + "/api/v1/rules")
    return json.loads(body)["data"]["groups"]


def last_scrape_ts(prom, job: str) -> float:
    result = promql(prom.base_url, f'timestamp(up{{job="{job}"}})')
    return float(result[0]["value"][1]) if result else 0.0


def group_evaluated_after(prom, group: str, ts: float) -> bool:
    """True once every rule of ``group`` was evaluated after Unix time ``ts``."""
    from datetime import datetime

    for g in rules_api(prom):
        if g["name"] == group:
            stamps = [r.get("lastEvaluation", "") for r in g["rules"]]
            return all(s and not s.startswith("0001") and
                       datetime.fromisoformat(s[:26].rstrip("Z") + "+00:00").timestamp() > ts for s in stamps)
    raise AssertionError(f"rule group {group} not loaded")


def prime(base: str) -> None:
    """Create the series the test measures, before Prometheus scrapes for the first time."""
    assert call("PUT", base + "/api/admin/faults", {"http_error_rate": 0.5, "duration_seconds": 60}) == 200
    statuses = [call("GET", base + BURST_ROUTE) for _ in range(PRIME_REQUESTS)]
    assert call("DELETE", base + "/api/admin/faults") == 200
    assert min(statuses.count(200), statuses.count(503)) > 60, statuses
    for path in ("/api/models", "/api/stats/cost-summary?period_hours=1", "/no-such-page",
                 "/api/workflows/00000000-0000-0000-0000-000000000000"):
        call("GET", base + path)
    assert call("POST", base + "/api/workflows", {"name": "prime", "input": "prime"}) == 202


@pytest.fixture
def stack(postgres, redis_url, pg_database, backend_factory):
    backend = backend_factory(env={"DATABASE_URL": pg_database, "REDIS_URL": redis_url})
    prime(backend.base_url)
    started = [start_node_exporter(), start_postgres_exporter(postgres.dsn() + "?sslmode=disable"),
               start_redis_exporter(redis_url), start_alertmanager(AM_CONFIG)]
    node, pg_exp, redis_exp, am = started
    addresses = {"backend": f"127.0.0.1:{backend.port}", "node-exporter": node.address,
                 "postgres-exporter": pg_exp.address, "redis-exporter": redis_exp.address,
                 "alertmanager": am.base_url.removeprefix("http://")}
    targets = shipped_targets()
    shipped = (promrules.PROMETHEUS_DIR / "prometheus.yml").read_text()
    config = rewrite_targets(shipped, {targets[job]: addr for job, addr in addresses.items()})
    prom = start_prometheus(config, promrules.rule_files())
    started.append(prom)
    # Prometheus scrapes itself: its port is known only now; rewrite that target too and reload.
    (prom.workdir / "prometheus.yml").write_text(
        rewrite_targets(config, {targets["prometheus"]: prom.base_url.removeprefix("http://")}))
    os.kill(prom.pid, signal.SIGHUP)
    addresses["prometheus"] = prom.base_url.removeprefix("http://")
    try:
        yield backend, prom, addresses
    finally:
        for proc in reversed(started):
            proc.stop()


def test_shipped_config_scrapes_records_and_tracks_an_error_burst(stack):
    backend, prom, addresses = stack
    base = backend.base_url

    targets = wait_for_targets_up(prom, set(addresses), timeout=60)
    assert {t["scrapeUrl"].split("/")[2] for job in addresses for t in targets[job]} == set(addresses.values())
    # Prometheus found the Alertmanager of the alerting section (rewritten like the targets).
    wait_until(lambda: json.loads(http_get(prom.base_url + "/api/v1/alertmanagers")[1])
               ["data"]["activeAlertmanagers"], 30, message="Prometheus sees Alertmanager")

    # Ordinary traffic, sent once Prometheus scrapes: workflows on every provider (LLM
    # metrics, cache hits on the repeated input), reads, 404s. Every status is counted.
    code, body = http_get(base + "/api/models")
    sent = [code]
    models = json.loads(body)["models"]
    one_per_provider = {m["provider"]: m["name"] for m in models}
    for provider, model in sorted(one_per_provider.items()):
        for text in ("summarise the tickets", "summarise the tickets", "plan the migration"):
            sent.append(call("POST", base + "/api/workflows",
                             {"name": "live", "input": text, "steps": [{"agent": "writer", "model": model}]}))
    sent.append(call("POST", base + "/api/workflows", {"name": "live", "input": "default pipeline"}))
    assert set(sent) == {200, 202}
    for _ in range(5):
        sent += [call("GET", base + "/api/stats/cost-summary?period_hours=1"),
                 call("GET", base + "/api/workflows/00000000-0000-0000-0000-000000000000"),
                 call("GET", base + "/no-such-page")]
    assert sent.count(404) == 10

    # The error burst: a share of /api requests answered 503, counted here.
    # /api/models (not subject to injected faults) keeps succeeding alongside.
    sent.append(call("PUT", base + "/api/admin/faults",
                     {"http_error_rate": BURST_ERROR_RATE, "duration_seconds": 120}))
    statuses = []
    for _ in range(BURST_REQUESTS):  # spread over ~3 scrapes
        statuses.append(call("GET", base + BURST_ROUTE))
        sent.append(call("GET", base + "/api/models"))
        time.sleep(0.05)
    sent.append(call("DELETE", base + "/api/admin/faults"))
    assert set(sent) == {200, 202, 404}
    burst_end = time.time()
    assert set(statuses) <= {200, 503}
    expected = statuses.count(503) / len(statuses)
    assert 0.1 < expected < 0.5, statuses  # the fault really fired (random, 150 draws at 0.3)

    # A scrape after the burst, then an evaluation of the HTTP group after that scrape.
    wait_until(lambda: last_scrape_ts(prom, "backend") > burst_end + 0.5, 20, interval=0.5,
               message="a backend scrape after the burst")
    scraped = last_scrape_ts(prom, "backend")
    wait_until(lambda: group_evaluated_after(prom, "vigil-http", scraped), 30, interval=0.5,
               message="vigil-http evaluated after that scrape")

    ratio = promql(prom.base_url, f'http_route:http_server_requests_5xx:ratio_rate5m{{http_route="{BURST_ROUTE}"}}')
    assert len(ratio) == 1
    assert abs(float(ratio[0]["value"][1]) - expected) < 1e-9, (ratio, expected)
    others = promql(prom.base_url, f'http_route:http_server_requests_5xx:ratio_rate5m{{http_route!="{BURST_ROUTE}"}}')
    # 0, or NaN (0/0) for a route with no request inside the window.
    assert others and not any(float(s["value"][1]) > 0 for s in others), others
    # Over the whole job the burst is diluted by all the other requests, which had no 5xx.
    overall = float(promql(prom.base_url, "job:http_server_requests_5xx:ratio_rate5m")[0]["value"][1])
    expected_overall = statuses.count(503) / (len(statuses) + len(sent))
    print(f"\n5xx ratio of {BURST_ROUTE}: sent {expected:.4f}, recorded {float(ratio[0]['value'][1]):.4f}; "
          f"whole job: sent {expected_overall:.4f}, recorded {overall:.4f}")
    assert abs(overall - expected_overall) < JOB_TOLERANCE, (overall, expected_overall)

    # Every recording rule returns series (all groups evaluated after the traffic).
    # (A group with its own interval, such as the SLO's period groups of 1m, may take that long more.)
    for group, every in {(g["name"], g.get("interval", "15s")) for g in promrules.groups()}:
        seconds = int(every[:-1]) * {"s": 1, "m": 60}[every[-1]]
        wait_until(lambda: group_evaluated_after(prom, group, scraped), 15 + seconds, interval=0.5,
                   message=f"{group} evaluated after the traffic")
    empty = [r["record"] for r in promrules.recording_rules() if not promql(prom.base_url, r["record"])]
    assert not empty, f"recording rules without series: {empty}"

    # No rule, recording or alerting, failed to evaluate.
    loaded = rules_api(prom)
    assert {g["name"] for g in loaded} == {g["name"] for g in promrules.groups()}
    broken = [(g["name"], r["name"], r.get("lastError")) for g in loaded for r in g["rules"]
              if r["health"] != "ok" or r.get("lastError")]
    assert not broken, broken

    # The burst makes the 5xx alerts pending (their `for` keeps them from firing this soon).
    # Nothing fires but Watchdog (always, by design); the only other pending alerts may be TargetDown for jobs the test does
    # not run (loki, grafana, ...) and the host alerts, which depend on the machine under test.
    def alert_states():
        _, body = http_get(prom.base_url + "/api/v1/alerts")
        return {(a["labels"]["alertname"], a["labels"].get("job"), a["state"])
                for a in json.loads(body)["data"]["alerts"]}
    wait_until(lambda: {("HighErrorRatio", "backend", "pending"), ("ErrorBudgetBurnFast", "backend", "pending")}
               <= alert_states(), 40, interval=1, message="HighErrorRatio and ErrorBudgetBurnFast pending")
    burst_alerts = {"HighErrorRatio", "ErrorBudgetBurnFast", "ErrorBudgetBurnSlow"}
    host_alerts = {r["alert"] for r in promrules.alerting_rules() if r["labels"]["service"] == "node-exporter"}
    states = alert_states()
    assert ("Watchdog", None, "firing") in states
    unexpected = {(name, job, state) for name, job, state in states - {("Watchdog", None, "firing")}
                  if state != "pending" or not (name in burst_alerts | host_alerts
                                                or name == "TargetDown" and job not in addresses)}
    assert not unexpected, unexpected

    # The exporters' metrics the alerts use exist under these names in the running versions.
    # (remote_write's queue metrics exist only with a remote_write: tests/scale/test_remote_write.py.)
    for name in sorted({n for r in promrules.alerting_rules() for n in promrules.metric_names(r["expr"])
                        if not n.startswith("prometheus_remote_storage_")} - promrules.backend_metric_names()):
        assert promql(prom.base_url, name), f"{name} (used by an alert) is not exposed"
    assert float(promql(prom.base_url, "pg_up")[0]["value"][1]) == 1
    assert float(promql(prom.base_url, "redis_up")[0]["value"][1]) == 1


# A Go service's histogram writes le="1"; the Python client writes le="1.0".
GO_STYLE_HISTOGRAM = """\
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{le="1"} 9
http_server_request_duration_seconds_bucket{le="2.50"} 10
http_server_request_duration_seconds_bucket{le="+Inf"} 10
http_server_request_duration_seconds_sum 6
http_server_request_duration_seconds_count 10
"""


def test_prometheus_stores_le_in_float_form_whatever_the_client_writes():
    """Why the latency SLO rules can select le="1.0" by one literal (prometheus/rules/recording.yml)."""
    server = StaticExporter(GO_STYLE_HISTOGRAM.encode())
    prom = None
    try:
        prom = start_prometheus("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: go\n"
                                f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n")
        series = wait_until(lambda: promql(prom.base_url, "http_server_request_duration_seconds_bucket"), 30,
                            interval=0.5, message="the scraped buckets")
        assert sorted(s["metric"]["le"] for s in series) == ["+Inf", "1.0", "2.5"]
        assert len(promql(prom.base_url, 'http_server_request_duration_seconds_bucket{le="1.0"}')) == 1
    finally:
        if prom:
            prom.stop()
        server.stop()
