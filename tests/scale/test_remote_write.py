"""remote_write, live: the shipped prometheus.remote-write.yml pushes to a real receiver.

Runs real programs: the backend (uvicorn, SQLite), Prometheus 3.13 from make tools twice —
one loading prometheus/prometheus.remote-write.yml and the shipped rules (only addresses rewritten: the
backend's to its loopback port, Mimir's push URL to the receiver's), and one started with
--web.enable-remote-write-receiver standing in for Mimir (same push protocol, Mimir cannot run here).
Mimir's own file (mimir/mimir.yml) is checked statically in test_scale_static.py.
"""
from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
import yaml

from harness import http_get, promrules, start_backend, wait_until
from harness.monitoring import PROMETHEUS_DIR, promql, rewrite_targets, start_prometheus

CONFIG = PROMETHEUS_DIR / "prometheus.remote-write.yml"


@pytest.fixture
def pair(tmp_path):
    started = []
    try:
        backend = start_backend(env={"DATABASE_URL": f"sqlite:///{tmp_path}/vigil.db"})
        started.append(backend)
        for path in ("/api/models", "/api/models", "/health"):
            urllib.request.urlopen(backend.base_url + path, timeout=5).close()
        receiver = start_prometheus("global: {}\n", extra_args=["--web.enable-remote-write-receiver"])
        started.append(receiver)
        url = yaml.safe_load(CONFIG.read_text())["remote_write"][0]["url"]
        config = rewrite_targets(CONFIG.read_text(), {
            "backend:8000": f"127.0.0.1:{backend.port}", url: receiver.base_url + "/api/v1/write"})
        sender = start_prometheus(config, promrules.rule_files())
        started.append(sender)
        yield backend, sender, receiver
    finally:
        for proc in reversed(started):
            proc.stop()
            if getattr(proc, "workdir", None):
                shutil.rmtree(proc.workdir, ignore_errors=True)


def all_groups_evaluated(prom) -> bool:
    groups = json.loads(http_get(prom.base_url + "/api/v1/rules")[1])["data"]["groups"]
    return len(groups) == len(promrules.groups()) and all(
        r.get("lastEvaluation", "0001").split("T")[0] != "0001-01-01" for g in groups for r in g["rules"])


def names(base_url: str, selector: str) -> set[str]:
    return {s["metric"]["__name__"] for s in promql(base_url, f"group by (__name__) ({selector})")}


def test_backend_series_and_recording_rules_arrive_at_the_receiver(pair):
    backend, sender, receiver = pair
    # The backend's own series, with the external label every remote-written series carries.
    up = wait_until(lambda: promql(receiver.base_url, 'up{job="backend", environment="dev"} == 1'), 60,
                    interval=1, message="the backend's up series at the receiver")
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{backend.port}"
    wait_until(lambda: promql(receiver.base_url, 'http_server_request_duration_seconds_count{job="backend"}'),
               60, interval=1, message="the backend's request histogram at the receiver")
    # Every recorded series the sender has produced (all groups evaluate every 15 s) reaches the receiver.
    recorded = {r["record"] for r in promrules.recording_rules()}
    # 90 s: the SLO period groups are evaluated every minute.
    wait_until(lambda: all_groups_evaluated(sender), 90, interval=1, message="every rule group evaluated")
    # Rates need two scrapes: wait for the first rate the backend's rules record.
    wait_until(lambda: promql(sender.base_url, 'job:http_server_requests:rate5m{job="backend"}'), 60,
               interval=1, message="job:http_server_requests:rate5m recorded")
    produced = names(sender.base_url, '{__name__=~".+:.+"}')
    assert produced <= recorded, sorted(produced - recorded)
    wait_until(lambda: produced <= names(receiver.base_url, '{__name__=~".+:.+", environment="dev"}'), 60,
               interval=1, message=f"all of {sorted(produced)} at the receiver")
    # The same value on both sides (same sample, same timestamp).
    expr = 'job:http_server_requests:rate5m{job="backend"}'
    sent = promql(sender.base_url, f"timestamp({expr})")[0]["value"][1]
    wait_until(lambda: promql(receiver.base_url, f"timestamp({expr}) >= {sent}"), 30, interval=1,
               message="the receiver to catch up with the sender's last evaluation")
    # PrometheusRemoteWriteBehind (meta.yml) reads these two gauges of the remote_write queue: they exist in
    # this Prometheus release, and a queue that keeps up is far under the alert's 120 s.
    metrics = urllib.request.urlopen(sender.base_url + "/metrics", timeout=10).read().decode()
    behind = next(r for r in promrules.alerting_rules() if r["alert"] == "PrometheusRemoteWriteBehind")
    for name in promrules.metric_names(behind["expr"]):
        assert f"{name}{{" in metrics, f"{name} is not exposed by this Prometheus"
    # The gap the alert measures, from the same /metrics text a self-scrape would store: seconds.
    now = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
           if line.startswith("prometheus_remote_storage_queue_highest")}
    assert 0 <= now["prometheus_remote_storage_queue_highest_timestamp_seconds"] - \
        now["prometheus_remote_storage_queue_highest_sent_timestamp_seconds"] < 120, now
