"""Meta-monitoring: the Watchdog heartbeat and the second channel for a failing Slack.

Real programs: Alertmanager (the shipped alertmanager.yml and templates; its URL secrets point at
three local HTTP receivers standing in for Slack, a dead man's switch service and an on-call tool's
webhook). Slack answers 500 to everything: the outage AlertmanagerNotificationsFailing is about.
"""
from __future__ import annotations

import urllib.request

import pytest

from harness import wait_until
from harness.alerting import SlackReceiver, post_alerts, start_shipped_alertmanager


@pytest.fixture
def pipeline(tmp_path):
    slack, heartbeat, escalation = SlackReceiver().start(), SlackReceiver().start(), SlackReceiver().start()
    slack.fail_if = lambda payload: True   # Slack is down
    am = start_shipped_alertmanager(tmp_path, slack.url, {"heartbeat_url": heartbeat.url,
                                                          "escalation_webhook_url": escalation.url})
    yield am, slack, heartbeat, escalation
    am.stop()
    for receiver in (slack, heartbeat, escalation):
        receiver.stop()


def alert(name: str, severity: str, service: str, **labels) -> dict:
    return {"labels": {"alertname": name, "severity": severity, "service": service, **labels},
            "annotations": {"summary": f"{name} on {service}", "description": "d", "dashboard": "/d/vigil-infra",
                            "runbook_url": f"http://localhost:8000/runbooks/{name}.md"}}


def alertnames(deliveries) -> set[str]:
    """Alert names in webhook payloads (Alertmanager's JSON) and Slack payloads (their titles)."""
    names = set()
    for d in deliveries:
        names |= {a["labels"]["alertname"] for a in d.payload.get("alerts", [])}
        names |= {word for a in d.payload.get("attachments", []) for word in a.get("title", "").split()}
    return names


def failed_slack_requests(am) -> float:
    with urllib.request.urlopen(am.base_url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("alertmanager_notification_requests_failed_total{")
               and 'integration="slack"' in line)


def test_watchdog_reaches_the_heartbeat_only_and_a_slack_outage_reaches_a_human_elsewhere(pipeline):
    am, slack, heartbeat, escalation = pipeline
    post_alerts(am.base_url, [
        alert("Watchdog", "info", "prometheus"),
        alert("TargetDown", "warning", "redis-exporter"),
        # What Prometheus sends once Slack has been failing (the rule is unit-tested by promtool).
        alert("AlertmanagerNotificationsFailing", "warning", "alertmanager", integration="slack",
              instance="alertmanager:9093", job="alertmanager"),
    ])
    # The heartbeat hears Watchdog at once (group_wait 0s), as Alertmanager's webhook JSON.
    (beat, *_) = wait_until(lambda: heartbeat.find(lambda d: True), 20, interval=0.3, message="a heartbeat")
    assert beat.payload["receiver"] == "heartbeat" and alertnames([beat]) == {"Watchdog"}
    # The on-call webhook hears that Slack is failing although Slack is down.
    (page, *_) = wait_until(lambda: escalation.find(lambda d: True), 30, interval=0.3,
                            message="the escalation webhook")
    assert page.payload["receiver"] == "escalation" and page.payload["status"] == "firing"
    assert alertnames([page]) == {"AlertmanagerNotificationsFailing"}
    assert page.payload["alerts"][0]["labels"]["integration"] == "slack"
    # Slack really was tried and refused (the input of AlertmanagerNotificationsFailing) ...
    wait_until(lambda: failed_slack_requests(am) > 0, 60, interval=0.5, message="a failed Slack request")
    attempted = slack.find(lambda d: True, status=None)
    assert attempted and all(d.status == 500 for d in attempted)
    assert "TargetDown" in alertnames(attempted)
    # ... and Watchdog never went to a Slack channel, nor anything else to the heartbeat.
    assert "Watchdog" not in alertnames(attempted) | alertnames(escalation.find(lambda d: True, status=None))
    assert alertnames(heartbeat.find(lambda d: True, status=None)) == {"Watchdog"}
