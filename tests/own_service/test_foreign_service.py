"""A service of one's own, added through vigil.toml alone: scraped, recorded, on every dashboard, alerting.

Real programs: `python3 -m render` (standard library) on a temporary copy of the repository whose vigil.toml
gained one [[service]] block (and a lower latency threshold: a user's edit of the same file); `prometheus` 3.5
(make tools) loading the rendered prometheus.yml (addresses rewritten) and a TEST COPY of the rendered and
hand-written rules in which only `for:` durations are 0s (as tests/alertmanager/test_end_to_end.py does: the
real ones, 1-5 minutes, are proved by promtool in prometheus/tests/generic/services.test.yml);
`prometheus-alertmanager` 0.33 with the shipped alertmanager.yml and templates (only the webhook URL file
points at a Slack-shaped receiver in this process); the reference backend under uvicorn beside
"shop": a small FastAPI app written below (no business metrics; `from observability import instrument`,
and a SQLite database through observability.db.instrument_engine) under uvicorn on its own port.
Faults are induced in the app: slow answers, 5xx answers, then the process killed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from alertmanager.test_end_to_end import shorten_for
from grafana.panels import all_panels, datasources, expand, interval_seconds, range_seconds, variables
from harness import BACKEND_DIR, Proc, free_port, http_get, start_backend, wait_until
from harness.alerting import SlackReceiver, start_shipped_alertmanager
from harness.monitoring import promql, rewrite_targets, start_prometheus, wait_for_targets_up
from harness.services import venv_bin
from vigil_config.test_render import copy, render

LATENCY_MAX = 0.25   # seconds: the shop's edit of [thresholds] http_latency_p95_max_seconds
SLOW = 0.4           # what a slow answer takes (the bucket (0.25, 0.5] of the package's histogram)

SHOP_APP = '''
"""shop: somebody's own FastAPI service, instrumented with Vigil's package and nothing else."""
import asyncio
import os

from fastapi import FastAPI, HTTPException
from sqlalchemy import create_engine, text

from observability import instrument
from observability.db import instrument_engine

app = FastAPI()
engine = create_engine("sqlite:///" + os.environ["SHOP_DB"])
instrument_engine(engine)
FAULT = {"delay": 0.0, "error": False}


@app.get("/items/{item_id}")
async def item(item_id: int):
    await asyncio.sleep(FAULT["delay"])
    if FAULT["error"]:
        raise HTTPException(503, "the shop is failing on purpose")
    with engine.connect() as conn:
        return {"id": item_id, "one": conn.execute(text("SELECT 1")).scalar()}


@app.put("/fault")
async def fault(delay: float = 0.0, error: bool = False):
    FAULT.update(delay=delay, error=error)
    return FAULT


instrument(app, service="shop", version="0.1.0")
'''


def shop_block(port: int) -> str:
    return f'''
[[service]]
name = "shop"
scrape = "static"
targets = ["127.0.0.1:{port}"]
scrape_interval = "5s"

[service.slo]
availability = 0.995
latency_threshold = 0.5
latency_objective = 0.95
'''


class Shop:
    def __init__(self, workdir: Path):
        (workdir / "shop.py").write_text(SHOP_APP)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc("shop", [venv_bin("uvicorn"), "shop:app", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-access-log"],
                         env={"PYTHONPATH": str(BACKEND_DIR), "SHOP_DB": str(workdir / "shop.db")}, cwd=str(workdir))
        self.stop_traffic = threading.Event()

    def start(self) -> "Shop":
        self.proc.start()
        self.proc.wait_http(self.base_url + "/items/1", timeout=30)
        threading.Thread(target=self._traffic, daemon=True).start()
        return self

    def _traffic(self):
        i = 0
        while not self.stop_traffic.is_set():
            i += 1
            try:
                http_get(f"{self.base_url}/items/{i % 7}", timeout=5)
            except OSError:
                pass   # a killed shop is the point of the last step
            self.stop_traffic.wait(0.05)

    def fault(self, delay: float = 0.0, error: bool = False) -> None:
        query = urllib.parse.urlencode({"delay": delay, "error": str(error).lower()})
        req = urllib.request.Request(f"{self.base_url}/fault?{query}", method="PUT")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own-service")
    shop = Shop(tmp).start()
    # The user's one edit: vigil.toml gains the shop (and a lower p95 threshold); then `make render`.
    root = copy(tmp)
    toml = (root / "vigil.toml").read_text()
    assert "http_latency_p95_max_seconds = 2.5" in toml
    toml = toml.replace("http_latency_p95_max_seconds = 2.5", f"http_latency_p95_max_seconds = {LATENCY_MAX}")
    (root / "vigil.toml").write_text(toml + shop_block(shop.port))
    rendered = render(root)
    assert rendered.returncode == 0, rendered.stderr
    receiver = SlackReceiver().start()
    am = start_shipped_alertmanager(tmp_path_factory.mktemp("secrets"), receiver.url)
    backend = start_backend()
    prom_dir = root / "prometheus"
    config = rewrite_targets((prom_dir / "prometheus.yml").read_text(), {
        "backend:8000": f"127.0.0.1:{backend.port}", "alertmanager:9093": am.base_url.removeprefix("http://")})
    rules = {str(p.relative_to(prom_dir)): shorten_for(p.read_text()) for p in sorted(prom_dir.glob("rules/*/*.yml"))}
    prom = start_prometheus(config, rules)
    procs = [prom, backend, am]

    def backend_traffic():   # the reference backend keeps serving its own clients meanwhile
        while not shop.stop_traffic.is_set():
            try:
                http_get(backend.base_url + "/api/models", timeout=5)
            except OSError:
                pass
            shop.stop_traffic.wait(0.5)
    threading.Thread(target=backend_traffic, daemon=True).start()
    try:
        wait_for_targets_up(prom, {"shop", "backend", "alertmanager"}, timeout=60)
        yield type("Stack", (), {"shop": shop, "prom": prom, "backend": backend, "am": am, "receiver": receiver,
                                 "root": root})
    finally:
        shop.stop_traffic.set()
        for proc in (*procs, shop.proc):
            proc.stop()
        receiver.stop()
        shutil.rmtree(root, ignore_errors=True)


def firing(stack, alertname: str) -> list[dict]:
    return promql(stack.prom.base_url, f'ALERTS{{alertname="{alertname}", alertstate="firing"}}')


def run_query(base: str, expr: str, instant: bool, dash: dict, sources: dict) -> bool:
    """True when the query returns a sample, asked the way Grafana asks (instant, or range over the dashboard)."""
    now = time.time()
    if instant:
        return bool(promql(base, expr, now))
    params = {"query": expr, "start": now - range_seconds(dash), "end": now, "step": interval_seconds(dash, sources)}
    _, body = http_get(f"{base}/api/v1/query_range?" + urllib.parse.urlencode(params), timeout=15)
    data = json.loads(body)
    assert data["status"] == "success", (expr, data)
    return any(series["values"] for series in data["data"]["result"])


def test_every_generic_panel_of_the_service_returns_data_for_it(stack):
    """Each Prometheus query of the generic dashboards that follows $service, with $service = shop."""
    sources = datasources()
    targets = []
    for path in sorted((stack.root / "grafana/dashboards/generic").glob("*.json")):
        dash = json.loads(path.read_text())
        service = variables(dash).get("service")
        if not service or service["type"] != "custom":
            continue   # logs: Loki's own service label, no Prometheus query
        assert [o["value"] for o in service["options"]] == ["backend", "shop"]
        service["current"] = {"text": "shop", "value": "shop"}
        for panel in all_panels(dash):
            for t in panel.get("targets", []):
                if "$service" in t.get("expr", "") and t["datasource"]["type"] == "prometheus":
                    targets.append((dash, panel["title"], expand(t["expr"], dash, sources), bool(t.get("instant"))))
    assert len(targets) >= 15, [t[1] for t in targets]
    assert all('job="shop"' in expr for _, _, expr, _ in targets)

    def empty():
        return [(d["uid"], title) for d, title, expr, instant in targets
                if not run_query(stack.prom.base_url, expr, instant, d, sources)]
    try:
        wait_until(lambda: not empty(), 150, interval=5, message="every generic panel to show the shop")
    except TimeoutError:
        pytest.fail(f"panels without data for service=shop: {empty()}")
    # The reference backend keeps its own series beside it.
    assert promql(stack.prom.base_url, 'job:http_server_requests:rate5m{job="backend"}')


def delivered(stack, title: str) -> list:
    return stack.receiver.find(lambda d: d.title == title)


def test_slow_and_failing_answers_fire_latency_and_availability_alerts_by_severity(stack):
    assert not firing(stack, "HighLatencyP95") and not firing(stack, "HighErrorRatio")
    stack.shop.fault(delay=SLOW, error=True)
    wait_until(lambda: firing(stack, "HighErrorRatio") and firing(stack, "HighLatencyP95"), 120, interval=2,
               message="HighErrorRatio and HighLatencyP95 for shop")
    for name in ("HighErrorRatio", "HighLatencyP95"):
        assert {a["metric"]["service"] for a in firing(stack, name)} == {"shop"}
    critical = wait_until(lambda: delivered(stack, "[FIRING:1] CRITICAL HighErrorRatio on shop"), 60, interval=0.5,
                          message="HighErrorRatio at the receiver")[0]
    assert critical.payload["channel"] == "#vigil-critical"
    # Warnings are grouped by alert name across services: "[FIRING:n] WARNING HighLatencyP95".
    warning = wait_until(lambda: stack.receiver.find(lambda d: "WARNING HighLatencyP95" in d.title), 90,
                         interval=0.5, message="HighLatencyP95 at the receiver")[0]
    assert warning.payload["channel"] == "#vigil-warnings"
    assert "shop" in warning.text and "/d/runbook-highlatencyp95" in warning.text
    stack.shop.fault()


def test_killing_the_service_pages_service_down_not_target_down(stack):
    stack.shop.proc.stop()
    down = wait_until(lambda: delivered(stack, "[FIRING:1] CRITICAL BackendDown on shop"), 120, interval=0.5,
                      message="BackendDown for shop at the receiver")[0]
    assert down.payload["channel"] == "#vigil-critical"
    assert "Service shop is down" in down.text
    # TargetDown (warning) covers the stack's other jobs, never a configured service.
    assert "shop" not in {a["metric"]["job"] for a in firing(stack, "TargetDown")}
    assert {a["metric"]["job"] for a in firing(stack, "TargetDown")}, "the unreachable stack jobs are TargetDown"


def test_the_reference_backend_keeps_working_beside_it(stack):
    code, _ = http_get(stack.backend.base_url + "/health")
    assert code == 200
    up = promql(stack.prom.base_url, 'up{job="backend"}')
    assert up and all(r["value"][1] == "1" for r in up)
    assert not [a for a in firing(stack, "BackendDown") if a["metric"]["job"] == "backend"]
    assert promql(stack.prom.base_url, 'job:http_server_requests:rate5m{job="backend"}')
