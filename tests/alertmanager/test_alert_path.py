"""Meta-monitoring, live: a broken path from Prometheus to one of its Alertmanagers reaches the escalation webhook.

Real programs: prometheus 3.13 and alertmanager 0.33 (make tools). Prometheus loads the shipped
prometheus/rules/generic/meta.yml, scrapes itself, and sends its alerts to two Alertmanagers: the shipped one
(alertmanager.yml and templates; its URL secrets point at local HTTP receivers standing in for Slack, the dead
man's switch and the on-call tool's webhook) and one that is not there (a closed port). For time, the test runs
Prometheus with a 5 s evaluation interval and alert resend delay, and PrometheusAlertmanagerErrors with `for: 0s`
instead of 15m (the shipped `for` is covered by promtool: prometheus/tests/generic/meta.test.yml).
"""
from __future__ import annotations

import json

import pytest
import yaml

from harness import free_port, http_get, promrules, wait_until
from harness.alerting import SlackReceiver, start_shipped_alertmanager
from harness.monitoring import promql, start_prometheus

ALERT = "PrometheusAlertmanagerErrors"


def meta_rules() -> str:
    rules = yaml.safe_load((promrules.RULES_DIR / "generic" / "meta.yml").read_text())
    alert, = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == ALERT]
    assert alert["for"] == "15m"
    alert["for"] = "0s"
    return yaml.safe_dump(rules, sort_keys=False)


@pytest.fixture
def path(tmp_path):
    slack, heartbeat, escalation = SlackReceiver().start(), SlackReceiver().start(), SlackReceiver().start()
    am = start_shipped_alertmanager(tmp_path, slack.url, {"heartbeat_url": heartbeat.url,
                                                          "escalation_webhook_url": escalation.url})
    dead = f"127.0.0.1:{free_port()}"          # nothing listens there
    port = free_port()
    config = ("global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
              "rule_files: [rules/generic/meta.yml]\n"
              "alerting:\n  alertmanagers:\n"
              f"    - static_configs: [{{targets: ['{am.base_url.removeprefix('http://')}', '{dead}']}}]\n"
              "scrape_configs:\n  - job_name: prometheus\n"
              f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    prom = start_prometheus(config, {"rules/generic/meta.yml": meta_rules()}, port=port,
                            extra_args=["--rules.alert.resend-delay=5s"])
    try:
        yield prom, dead, heartbeat, escalation
    finally:
        prom.stop()
        am.stop()
        for receiver in (slack, heartbeat, escalation):
            receiver.stop()


def alerts(prom) -> list[dict]:
    _, body = http_get(prom.base_url + "/api/v1/alerts")
    return json.loads(body)["data"]["alerts"]


def test_an_unreachable_alertmanager_is_reported_through_the_other_one_to_the_escalation_webhook(path):
    prom, dead, heartbeat, escalation = path
    broken = f"http://{dead}/api/v2/alerts"
    # Prometheus knows both Alertmanagers; sends to the dead one fail (Watchdog is always there to send).
    wait_until(lambda: promql(prom.base_url, "prometheus_notifications_alertmanagers_discovered == 2"), 30,
               interval=0.5, message="two Alertmanagers discovered")
    wait_until(lambda: promql(prom.base_url, f'prometheus_notifications_errors_total{{alertmanager="{broken}"}} > 0'),
               60, interval=0.5, message="errors sending to the dead Alertmanager, scraped")
    # The working one still takes everything: Watchdog reaches the heartbeat.
    wait_until(lambda: heartbeat.find(lambda d: True), 60, interval=0.5, message="a heartbeat")

    # The alert fires for the dead Alertmanager only, and reaches the on-call webhook through the live one.
    (page, *_) = wait_until(lambda: escalation.find(
        lambda d: any(a["labels"]["alertname"] == ALERT for a in d.payload.get("alerts", []))), 120, interval=0.5,
        message=f"{ALERT} at the escalation webhook")
    assert page.payload["receiver"] == "escalation" and page.payload["status"] == "firing"
    sent, = [a for a in page.payload["alerts"] if a["labels"]["alertname"] == ALERT]
    assert sent["labels"]["alertmanager"] == broken
    assert sent["labels"]["severity"] == "warning" and sent["labels"]["service"] == "prometheus"
    assert sent["annotations"]["description"].startswith(f"100% of the alerts 127.0.0.1:{prom.base_url.rsplit(':', 1)[1]}"
                                                         f" sent to {broken}"), sent["annotations"]
    firing = {(a["labels"]["alertname"], a["labels"].get("alertmanager")) for a in alerts(prom)
              if a["state"] == "firing"}
    assert (ALERT, broken) in firing
    assert not any(name == ALERT and am != broken for name, am in firing), firing
    # One Alertmanager still answers: nothing was dropped, and Prometheus is not without Alertmanager.
    assert not {name for name, _ in firing} & {"PrometheusNotificationsDropped", "PrometheusNoAlertmanager"}, firing
