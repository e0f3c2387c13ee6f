"""The latency SLO's page (LatencyBudgetBurnFast) fires from real slow requests.

Real programs: PostgreSQL (session fixture), the backend on it (uvicorn), prometheus 3.13 (make tools) scraping
the backend every 5 s (as the shipped config does) and evaluating the rendered prometheus/rules/generic/slo.yml
every 15 s (the shipped interval). One change to the rules, for time: the page's `for: 2m` becomes 30 s (the
shipped `for` is covered by promtool, prometheus/tests/generic/slo.test.yml).

The slowness is real: the test holds an ACCESS EXCLUSIVE lock on the workflows table for 1.5 s at a time while it
reads workflows over HTTP, so each of those requests waits for PostgreSQL; requests to /api/models (no database)
stay fast alongside. More than 14.4 x the budget (1 % of requests slower than 1 s: 14.4 %) is slow over 5 minutes and
over the hour Prometheus has seen: the 1h & 5m pair pages.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request

import psycopg2
import pytest
import yaml

from harness import REPO, http_get, promrules, wait_until
from harness.monitoring import promql, start_prometheus

sys.path.insert(0, str(REPO))
from render import config as vigil_config  # noqa: E402

SLO = vigil_config.load().service("backend").slo
HOLD_SECONDS = 1.5 * SLO.latency_threshold    # each locked read takes about this long (> the threshold)
READS_PER_LOCK = 6                             # slow requests per lock
FAST_PER_LOCK = 6                              # fast ones alongside
PAGE_FOR = "30s"


def rules_with_short_for() -> str:
    text = (promrules.RULES_DIR / "generic" / "slo.yml").read_text()
    rules = yaml.safe_load(text)
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["LatencyBudgetBurnFast"]["for"] == "2m"
    alerts["LatencyBudgetBurnFast"]["for"] = PAGE_FOR
    return yaml.safe_dump(rules, sort_keys=False)


def timed_get(url: str, out: list, lock: threading.Lock) -> None:
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as r:
        status = r.status
    with lock:
        out.append((status, time.monotonic() - start))


@pytest.fixture
def stack(postgres, pg_database, backend_factory):
    backend = backend_factory(env={"DATABASE_URL": pg_database})
    config = ("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n"
              "rule_files: [rules/generic/slo.yml]\n"
              "scrape_configs:\n  - job_name: backend\n    scrape_interval: 5s\n"
              f"    static_configs: [{{targets: ['127.0.0.1:{backend.port}']}}]\n")
    prom = start_prometheus(config, {"rules/generic/slo.yml": rules_with_short_for()})
    db = pg_database.rsplit("/", 1)[-1]
    try:
        yield backend, prom, postgres.dsn(db)
    finally:
        prom.stop()


def firing(prom, name: str) -> list[dict]:
    _, body = http_get(prom.base_url + "/api/v1/alerts")
    return [a for a in json.loads(body)["data"]["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_slow_requests_page_through_the_latency_burn_rate_alert(stack):
    backend, prom, dsn = stack
    base = backend.base_url
    req = urllib.request.Request(base + "/api/workflows", data=json.dumps({"name": "slo", "input": "slo"}).encode(),
                                 method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202
        workflow = base + "/api/workflows/" + json.loads(r.read())["id"]
    wait_until(lambda: promql(prom.base_url, 'up{job="backend"} == 1'), 30, interval=0.5, message="backend scraped")

    results, lock = [], threading.Lock()
    conn = psycopg2.connect(dsn)
    deadline = time.monotonic() + 240
    fired = []
    try:
        while not fired:
            assert time.monotonic() < deadline, (
                f"LatencyBudgetBurnFast did not fire in 240 s; latency ratios: "
                f"{promql(prom.base_url, 'slo:sli_error:ratio_rate5m')}")
            with conn.cursor() as cur:          # a transaction: the lock holds until rollback
                cur.execute("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE")
                threads = [threading.Thread(target=timed_get, args=(workflow, results, lock))
                           for _ in range(READS_PER_LOCK)]
                threads += [threading.Thread(target=timed_get, args=(base + "/api/models", results, lock))
                            for _ in range(FAST_PER_LOCK)]
                for t in threads:
                    t.start()
                # The reads are blocked on the lock while it is held: holding it is the point, not a wait.
                time.sleep(HOLD_SECONDS)
            conn.rollback()
            for t in threads:
                t.join(timeout=30)
            fired = firing(prom, "LatencyBudgetBurnFast")
    finally:
        conn.close()

    # The client saw the slowness the alert is about: about half of its requests slower than the threshold.
    assert {status for status, _ in results} == {200}
    slow = sum(1 for _, took in results if took > SLO.latency_threshold)
    assert 0.3 < slow / len(results) < 0.7, (slow, len(results))
    # The page names the service, its SLO and the spec it prints from the recorded series.
    alert, = fired
    assert alert["labels"] == {"alertname": "LatencyBudgetBurnFast", "severity": "critical", "service": "backend",
                               "job": "backend", "slo": "latency"}
    description = alert["annotations"]["description"]
    assert f"slower than {SLO.latency_threshold:g}s" in description, description
    assert f"latency objective of {SLO.latency_objective * 100:g}%" in description, description
    ratio = float(promql(prom.base_url, 'slo:sli_error:ratio_rate5m{slo="latency"}')[0]["value"][1])
    assert ratio > 14.4 * (1 - SLO.latency_objective), ratio
    # No 5xx: the availability SLO stays quiet.
    assert not firing(prom, "ErrorBudgetBurnFast")
    assert float(promql(prom.base_url, 'slo:sli_error:ratio_rate5m{slo="availability"}')[0]["value"][1]) == 0
    print(f"\nLatencyBudgetBurnFast fired; client: {slow} of {len(results)} requests slower than "
          f"{SLO.latency_threshold:g} s; recorded 5m latency error ratio {ratio:.3f}")
