"""End to end: metrics -> Prometheus rules -> Alertmanager -> a Slack-shaped receiver.

Runs real programs: `prometheus` (3.13, make tools) with the shipped prometheus.yml
(only target addresses rewritten) and a TEST COPY of the shipped rules in which
only the `for:` (and `keep_firing_for:`) durations are shortened to 0s, so the
test does not wait minutes; `alertmanager` (0.33) with the shipped
alertmanager.yml and templates (only the webhook URL file points at the test
receiver); and the real backend under uvicorn. The receiver is an HTTP server
in this process (harness.alerting.SlackReceiver) that records exact payloads.

One stack serves the whole module, and the tests run in file order as one
scenario: receiver outage, backend down (critical), backend back (resolved),
LLM failures (warning), then a final check that nothing was sent twice.
Scrape and evaluation intervals stay as shipped (backend 5 s, rules 15 s).
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import pytest
import yaml
from harness import Proc, http_get, start_backend, wait_until
from harness.alerting import Delivery, SlackReceiver, post_alerts, start_shipped_alertmanager
from harness.monitoring import (ALERTMANAGER_DIR, PROMETHEUS_DIR, promql, rewrite_targets,
                                start_prometheus, wait_for_targets_up)

PROM_CONFIG = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
AM_CONFIG = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text())
SHORT_FOR = "0s"


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", duration))


def shorten_for(text: str) -> str:
    """The test copy of a rule file: every `for:`/`keep_firing_for:` set to SHORT_FOR, nothing else."""
    short = re.sub(r"^(\s+)(for|keep_firing_for):\s*\S+\s*$", rf"\1\2: {SHORT_FOR}", text, flags=re.M)
    original, copy = yaml.safe_load(text), yaml.safe_load(short)
    for group in original["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None), rule.pop("keep_firing_for", None)
    for group in copy["groups"]:
        for rule in group["rules"]:
            assert rule.pop("for", SHORT_FOR) == SHORT_FOR and rule.pop("keep_firing_for", SHORT_FOR) == SHORT_FOR
    assert original == copy, "shortening `for` changed something else"
    return short


def route_for(severity: str) -> dict:
    """The effective timing of the route an alert of this severity takes (sub-route over root)."""
    root = AM_CONFIG["route"]
    sub = next(r for r in root["routes"] if f'severity="{severity}"' in r.get("matchers", []))
    return {**root, **sub}


def scrape_interval(job: str) -> float:
    scrape = next(s for s in PROM_CONFIG["scrape_configs"] if s["job_name"] == job)
    return seconds(scrape.get("scrape_interval", PROM_CONFIG["global"]["scrape_interval"]))


EVAL = seconds(PROM_CONFIG["global"]["evaluation_interval"])


def say(capsys, line: str) -> None:
    """Print past pytest's capture so `make test` shows the figure."""
    with capsys.disabled():
        print(f"\n[alerting e2e] {line}", flush=True)


@dataclass
class Stack:
    receiver: SlackReceiver
    alertmanager: Proc
    prometheus: Proc
    backend: Proc
    backend_env: dict
    marks: dict = field(default_factory=dict)   # times shared between the scenario's steps
    stop_traffic: threading.Event = field(default_factory=threading.Event)
    traffic: threading.Thread | None = None

    def restart_backend(self) -> None:
        self.backend = start_backend(env=self.backend_env, port=self.backend.port)

    def start_llm_failures(self) -> None:
        """Make every openai call fail and keep workflows using openai models coming."""
        if self.traffic:
            return
        base = self.backend.base_url
        body = {"providers": {"openai": {"failure_rate": 1.0}}, "duration_seconds": 600}
        req = urllib.request.Request(base + "/api/admin/faults", data=json.dumps(body).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        self.marks["llm_fault"] = time.monotonic()

        def send():
            i = 0
            while not self.stop_traffic.is_set():
                i += 1
                wf = {"name": "alert-e2e", "input": f"request {i}",  # unique input: no cache hits
                      "steps": [{"agent": "planner", "model": "gpt-4o-mini"}, {"agent": "writer", "model": "gpt-4.1"}]}
                req = urllib.request.Request(base + "/api/workflows", data=json.dumps(wf).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=5).close()
                except OSError:
                    pass  # failed workflows are the point; the metrics count them
                self.stop_traffic.wait(0.25)

        self.traffic = threading.Thread(target=send, daemon=True)
        self.traffic.start()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    receiver = SlackReceiver().start()
    am = start_shipped_alertmanager(tmp_path_factory.mktemp("secrets"), receiver.url)
    backend_env = {"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db')}/vigil.db"}
    backend = start_backend(env=backend_env)
    config = rewrite_targets((PROMETHEUS_DIR / "prometheus.yml").read_text(), {
        "backend:8000": f"127.0.0.1:{backend.port}",
        "alertmanager:9093": am.base_url.removeprefix("http://"),
    })
    rules = {str(p.relative_to(PROMETHEUS_DIR)): shorten_for(p.read_text())
             for p in sorted((PROMETHEUS_DIR / "rules").glob("*/*.yml"))}
    prom = start_prometheus(config, rules)
    s = Stack(receiver, am, prom, backend, backend_env)
    try:
        wait_for_targets_up(prom, {"backend", "alertmanager"}, timeout=30)
        wait_until(lambda: json.loads(http_get(prom.base_url + "/api/v1/alertmanagers")[1])
                   ["data"]["activeAlertmanagers"], 30, message="Prometheus to discover Alertmanager")
        yield s
    finally:
        s.stop_traffic.set()
        for proc in (prom, s.backend, am):
            proc.stop()
        receiver.stop()


def is_probe(d: Delivery) -> bool:
    return "ReceiverOutageProbe" in d.title


def test_receiver_outage_is_retried_until_delivered(stack):
    """Slack answers 500 three times: Alertmanager retries and the same message arrives once."""
    failures = 3
    stack.receiver.fail_if = lambda payload: (
        "ReceiverOutageProbe" in json.dumps(payload) and len(stack.receiver.find(is_probe, status=500)) < failures)
    post_alerts(stack.alertmanager.base_url, [{
        "labels": {"alertname": "ReceiverOutageProbe", "severity": "critical", "service": "alert-test"},
        "annotations": {"summary": "probe", "description": "receiver outage test", "runbook_url": "https://r.example",
                        "dashboard": "/d/vigil-overview"}}])
    delivered = wait_until(lambda: stack.receiver.find(is_probe), 60, interval=0.2,
                           message="the probe delivered after the outage")
    stack.marks["probe_delivered"] = delivered[0].at
    attempts = stack.receiver.find(is_probe, status=None)
    assert [d.status for d in attempts] == [500] * failures + [200]
    assert all(d.payload == delivered[0].payload for d in attempts), "the retried message changed"
    _, metrics = http_get(stack.alertmanager.base_url + "/metrics")
    failed = re.search(rb'alertmanager_notification_requests_failed_total\{integration="slack"\} (\d+)', metrics)
    assert failed and int(failed.group(1)) >= failures


def backend_down(d: Delivery) -> bool:
    return "BackendDown" in d.title


def test_backend_down_pages_the_critical_channel_with_the_runbook(stack, capsys):
    stopped = time.monotonic()
    stack.backend.stop()
    stack.marks["backend_stopped"] = stopped
    rule = route_for("critical")
    bound = scrape_interval("backend") + EVAL + seconds(SHORT_FOR) + seconds(rule["group_wait"]) + 5
    firing = wait_until(lambda: stack.receiver.find(lambda d: backend_down(d) and d.title.startswith("[FIRING")),
                        bound + 30, interval=0.2, message="BackendDown at the receiver")[0]
    latency = firing.at - stopped
    say(capsys, f"BackendDown delivery latency (backend stopped -> Slack payload): {latency:.1f} s "
                f"(bound: scrape + evaluation + for + group_wait + 5 s = {bound:.0f} s)")
    assert firing.payload["channel"] == "#vigil-critical"
    assert firing.title == "[FIRING:1] CRITICAL BackendDown on backend"
    assert firing.attachment["color"] == "danger"
    assert "receiver critical" in firing.attachment["footer"]
    rules_text = (PROMETHEUS_DIR / "rules" / "generic" / "services.yml").read_text()
    runbook = re.search(r"alert: BackendDown.*?runbook_url: (\S+)", rules_text, re.S).group(1)
    assert f"<http://localhost:3001{runbook}|Runbook>" in firing.text  # Grafana's runbook dashboard
    assert "/d/vigil-overview|Dashboard>" in firing.text and "|Silence>" in firing.text
    assert latency <= bound, f"BackendDown took {latency:.1f}s, more than {bound:.0f}s"


def test_backend_back_sends_the_resolved_message(stack):
    assert "backend_stopped" in stack.marks, "runs after the backend-down test"
    stack.restart_backend()
    wait_until(lambda: not promql(stack.prometheus.base_url, 'ALERTS{alertname="BackendDown"}'), 60,
               interval=0.5, message="Prometheus to resolve BackendDown")
    # BackendDown no longer inhibits the backend's other alerts: start the next step's LLM
    # failures now, so its wait overlaps with the critical route's group_interval here.
    stack.start_llm_failures()
    interval = seconds(route_for("critical")["group_interval"])
    resolved = wait_until(lambda: stack.receiver.find(lambda d: backend_down(d) and d.title.startswith("[RESOLVED")),
                          interval + 30, interval=0.2, message="the resolved BackendDown message")[0]
    assert resolved.payload["channel"] == "#vigil-critical"
    assert resolved.title == "[RESOLVED] CRITICAL BackendDown on backend"
    assert resolved.attachment["color"] == "good" and resolved.text.startswith("*Resolved*")
    assert len(stack.receiver.find(lambda d: backend_down(d) and d.title.startswith("[FIRING"))) == 1


def test_llm_failures_warn_on_the_warning_channel(stack, capsys):
    stack.start_llm_failures()  # already running when the previous test ran first
    rule = route_for("warning")
    # rate() needs two scrapes, and the alert reads a recording rule: one more evaluation.
    bound = 2 * scrape_interval("backend") + 2 * EVAL + seconds(SHORT_FOR) + seconds(rule["group_wait"]) + 5
    warning = wait_until(lambda: stack.receiver.find(lambda d: "LLMErrorRatioHigh" in d.title),
                         bound + 30, interval=0.2, message="LLMErrorRatioHigh at the receiver")[0]
    latency = warning.at - stack.marks["llm_fault"]
    say(capsys, f"LLMErrorRatioHigh delivery latency (fault injected -> Slack payload): {latency:.1f} s "
                f"(bound: 2 scrapes + 2 evaluations + for + group_wait + 5 s = {bound:.0f} s)")
    assert warning.payload["channel"] == "#vigil-warnings"
    assert warning.title == "[FIRING:1] WARNING LLMErrorRatioHigh"
    assert warning.attachment["color"] == "warning"
    assert "`provider=openai`" in warning.text and "/d/vigil-llm|Dashboard>" in warning.text
    assert latency <= bound, f"LLMErrorRatioHigh took {latency:.1f}s, more than {bound:.0f}s"


def test_nothing_was_sent_twice(stack):
    """After a successful delivery nothing repeats it: not the retried probe, not BackendDown."""
    assert "probe_delivered" in stack.marks, "runs after the outage test"
    # A duplicate would come at the latest on the critical route's next group_interval tick.
    later = stack.marks["probe_delivered"] + seconds(route_for("critical")["group_interval"]) + 5
    wait_until(lambda: time.monotonic() > later, max(0.0, later - time.monotonic()) + 5,
               message="one group_interval after the probe's delivery")
    assert len(stack.receiver.find(is_probe)) == 1
    titles = [d.title for d in stack.receiver.find(backend_down)]
    assert titles == ["[FIRING:1] CRITICAL BackendDown on backend", "[RESOLVED] CRITICAL BackendDown on backend"]
