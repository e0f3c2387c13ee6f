"""An app that is not ours, with FastAPI's own telemetry and OTLP environment variables only, lights the
generic HTTP panels and fires the availability alert.

Real programs: "kiosk", a FastAPI (the pinned 0.165) app written below with no Vigil import, under uvicorn,
with FastAPI's built-in OpenTelemetry telemetry auto-configured from OTEL_EXPORTER_OTLP_ENDPOINT (the
OpenTelemetry SDK's OTLP/HTTP exporters, FASTAPI_OTEL_AUTO_CONFIGURE=true); the OpenTelemetry Collector built
from otelcol/builder.yaml running the shipped otelcol/config.yaml (tests/harness/otlp.py); Jaeger 2.12 for its
traces; `python3 -m render` on a temporary copy of the repository whose vigil.toml gained one
`scrape = "otlp"` [[service]]; Prometheus 3.13 with the rendered prometheus.yml (its `otlp:` block),
--web.enable-otlp-receiver, and a TEST COPY of the rendered rules in which only `for:` durations are 0s
(tests/alertmanager/test_end_to_end.py's shorten_for). Loki cannot run here: a recording server stands in.
Every generic dashboard's Prometheus query that follows $service is expanded as Grafana would and run; only
the connection-pool panel is not HTTP (db_pool_* come from Vigil's SQLAlchemy hook; FastAPI has no such metric).
"""
from __future__ import annotations

import json
import shutil
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from alertmanager.test_end_to_end import shorten_for
from grafana.panels import all_panels, datasources, expand, variables
from harness import Proc, free_port, http_get, wait_until
from harness.monitoring import compose_command, promql, start_jaeger, start_prometheus
from harness.otlp import LogsReceiver, start_collector
from harness.services import venv_bin
from own_service.test_foreign_service import run_query
from vigil_config.test_render import copy, render

NOT_HTTP = "db_pool_"  # the one generic panel that is not about HTTP

KIOSK_APP = '''
"""kiosk: somebody's FastAPI app. No Vigil code: FastAPI's own telemetry and the OTEL_* variables."""
from fastapi import FastAPI, HTTPException

app = FastAPI()
FAULT = {"error": False}


@app.get("/items/{item_id}")
async def item(item_id: int):
    if FAULT["error"]:
        raise HTTPException(503, "failing on purpose")
    return {"id": item_id}


@app.put("/fault")
async def fault(error: bool = False):
    FAULT["error"] = error
    return FAULT
'''

KIOSK_BLOCK = '''
[[service]]
name = "kiosk"
scrape = "otlp"

[service.slo]
availability = 0.995
latency_threshold = 0.5
latency_objective = 0.95
'''


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otlp-kiosk")
    root = copy(tmp)
    (root / "vigil.toml").write_text((root / "vigil.toml").read_text() + KIOSK_BLOCK)
    rendered = render(root)
    assert rendered.returncode == 0, rendered.stderr
    prom_dir = root / "prometheus"
    rules = {str(p.relative_to(prom_dir)): shorten_for(p.read_text()) for p in sorted(prom_dir.glob("rules/*/*.yml"))}
    flags = [f for f in compose_command("prometheus") if f == "--web.enable-otlp-receiver"]
    assert flags
    jaeger, logs = start_jaeger(), LogsReceiver()
    prom_port = free_port()
    collector = start_collector(jaeger.otlp_grpc, f"http://127.0.0.1:{prom_port}", logs.url)
    prom = start_prometheus((prom_dir / "prometheus.yml").read_text(), rules, extra_args=flags, port=prom_port)
    (tmp / "kiosk.py").write_text(KIOSK_APP)
    port = free_port()
    kiosk = Proc("kiosk", [venv_bin("uvicorn"), "kiosk:app", "--host", "127.0.0.1", "--port", str(port),
                           "--no-access-log"], cwd=str(tmp),
                 env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http, "OTEL_SERVICE_NAME": "kiosk",
                      "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=kiosk-1",
                      "FASTAPI_OTEL_AUTO_CONFIGURE": "true", "OTEL_METRIC_EXPORT_INTERVAL": "2000",
                      "OTEL_BSP_SCHEDULE_DELAY": "200", "PYTHONPATH": ""}).start()
    kiosk.base_url = f"http://127.0.0.1:{port}"
    kiosk.wait_http(kiosk.base_url + "/items/1", timeout=30)
    stop = threading.Event()

    def traffic():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                http_get(f"{kiosk.base_url}/items/{i % 5}", timeout=5)
            except OSError:
                pass
            stop.wait(0.05)
    threading.Thread(target=traffic, daemon=True).start()
    try:
        yield type("Stack", (), {"kiosk": kiosk, "prom": prom, "jaeger": jaeger, "root": root})
    finally:
        stop.set()
        for proc in (kiosk, prom, collector, jaeger):
            proc.stop()
        logs.stop()
        shutil.rmtree(root, ignore_errors=True)


def fault(stack, error: bool) -> None:
    req = urllib.request.Request(f"{stack.kiosk.base_url}/fault?{urllib.parse.urlencode({'error': str(error).lower()})}",
                                 method="PUT")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def test_fastapis_own_metrics_arrive_with_the_services_job(stack):
    series = wait_until(lambda: promql(stack.prom.base_url, 'http_server_request_duration_seconds_count{job="kiosk"}'),
                        60, interval=1, message="kiosk's http_server_request_duration_seconds in Prometheus")
    labels = series[0]["metric"]
    assert labels["instance"] == "kiosk-1" and labels["http_route"] == "/items/{item_id}"
    assert labels["http_request_method"] == "GET" and labels["http_response_status_code"] == "200"
    # Classic buckets (OpenTelemetry's default explicit boundaries), which the generic rules read.
    les = {r["metric"]["le"] for r in promql(stack.prom.base_url,
                                             'http_server_request_duration_seconds_bucket{job="kiosk"}')}
    print(f"\nkiosk bucket boundaries: {sorted(les, key=float)}")
    assert len(les) > 5 and "+Inf" in les


def test_every_generic_http_panel_lights_for_it(stack):
    sources = datasources()
    targets, skipped = [], set()
    for path in sorted((stack.root / "grafana/dashboards/generic").glob("*.json")):
        dash = json.loads(path.read_text())
        service = variables(dash).get("service")
        if not service or service["type"] != "custom":
            continue
        assert "kiosk" in [o["value"] for o in service["options"]]
        service["current"] = {"text": "kiosk", "value": "kiosk"}
        for panel in all_panels(dash):
            for t in panel.get("targets", []):
                if "$service" in t.get("expr", "") and t["datasource"]["type"] == "prometheus":
                    if NOT_HTTP in t["expr"]:
                        skipped.add(panel["title"])
                        continue
                    targets.append((dash, panel["title"], expand(t["expr"], dash, sources), bool(t.get("instant"))))
    assert len(targets) >= 15, [t[1] for t in targets]
    assert skipped == {"Database connection pool"}, skipped

    def empty():
        return [(d["uid"], title, expr) for d, title, expr, instant in targets
                if not run_query(stack.prom.base_url, expr, instant, d, sources)]
    try:
        wait_until(lambda: not empty(), 150, interval=5, message="every generic panel to show kiosk")
    except TimeoutError:
        pytest.fail("panels without data for service=kiosk (OTLP only):\n" + "\n".join(map(str, empty())))
    print(f"\n{len(targets)} generic panel queries light for an OTLP-only FastAPI app:")
    for title in sorted({f"{d['uid']}: {title}" for d, title, _, _ in targets}):
        print("  " + title)


def test_induced_errors_fire_the_availability_alert(stack):
    def alerts():
        return [a for a in promql(stack.prom.base_url, 'ALERTS{alertname="HighErrorRatio", alertstate="firing"}')
                if a["metric"].get("job") == "kiosk"]
    assert not alerts()
    fault(stack, True)
    try:
        firing = wait_until(alerts, 120, interval=2, message="HighErrorRatio for kiosk")
    finally:
        fault(stack, False)
    assert firing[0]["metric"]["service"] == "kiosk" and firing[0]["metric"]["severity"] == "critical"
