"""alertmanager/alertmanager.yml and its templates, checked with the real tools.

Runs `amtool` (check-config, config routes test, template render) and
a real `alertmanager` (inhibition), both 0.33.1 from make tools (the pinned release).
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from harness import wait_until
from harness.alerting import SlackReceiver, am_alerts, post_alerts, start_shipped_alertmanager
from harness.monitoring import ALERTMANAGER_DIR, binary

CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
TEMPLATES = ALERTMANAGER_DIR / "templates"


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary("amtool"), *args], capture_output=True, text=True, timeout=30)


def test_config_loads():
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 receivers" in result.stdout and "2 inhibit rules" in result.stdout, result.stdout
    assert re.search(r"[1-9]\d* templates", result.stdout), result.stdout


def test_receivers_post_to_slack_from_the_secret_file_with_resolved_messages():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["global"]["slack_api_url_file"] == "/run/secrets/slack_webhook_url"
    slack_receivers = [r for r in config["receivers"] if "slack_configs" in r]
    assert {r["name"] for r in slack_receivers} == {"critical", "warning", "default"}
    for receiver in slack_receivers:
        for slack in receiver["slack_configs"]:
            assert slack["send_resolved"] is True, receiver["name"]  # Slack's default is false
            assert "api_url" not in slack and "api_url_file" not in slack  # the global secret only
    assert "hooks.slack.com" not in CONFIG.read_text()


def test_commented_pagerduty_block_loads_when_switched_on(tmp_path):
    """Uncommenting the PagerDuty block (docs/alerting.md) must give a valid config."""
    lines = CONFIG.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# pagerduty_configs:")
    switched = list(lines)
    i = start
    while i < len(lines) and lines[i].strip().startswith("#"):
        switched[i] = lines[i].replace("# ", "", 1)
        i += 1
    (tmp_path / "templates").symlink_to(TEMPLATES)
    path = tmp_path / "alertmanager.yml"
    path.write_text("\n".join(switched) + "\n")
    result = amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    critical = next(r for r in yaml.safe_load(path.read_text())["receivers"] if r["name"] == "critical")
    assert critical["pagerduty_configs"][0]["routing_key_file"] == "/run/secrets/pagerduty_routing_key"


@pytest.mark.parametrize("labels, receiver", [
    ({"alertname": "BackendDown", "severity": "critical", "service": "backend"}, "critical"),
    ({"alertname": "HighErrorRatio", "severity": "critical", "service": "backend"}, "critical"),
    ({"alertname": "LLMErrorRatioHigh", "severity": "warning", "service": "backend"}, "warning"),
    ({"alertname": "TargetDown", "severity": "warning", "service": "redis-exporter"}, "warning"),
    ({"alertname": "SomethingToKnow", "severity": "info", "service": "backend"}, "default"),
    ({"alertname": "Unlabelled"}, "default"),
    # Meta-monitoring: the dead man's switch reaches the heartbeat only, never a Slack channel;
    # a failing notification pipeline goes out through a second integration as well as Slack.
    ({"alertname": "Watchdog", "severity": "info", "service": "prometheus"}, "heartbeat"),
    ({"alertname": "AlertmanagerNotificationsFailing", "severity": "warning", "service": "alertmanager",
      "integration": "slack"}, "escalation,warning"),
    # So does a broken path from Prometheus to one of its Alertmanagers (delivered by the others).
    ({"alertname": "PrometheusAlertmanagerErrors", "severity": "warning", "service": "prometheus",
      "alertmanager": "http://alertmanager-b:9093/api/v2/alerts"}, "escalation,warning"),
    ({"alertname": "PrometheusNotificationsDropped", "severity": "warning", "service": "prometheus"},
     "escalation,warning"),
    # A failed reload pages the usual way.
    ({"alertname": "PrometheusConfigReloadFailed", "severity": "critical", "service": "prometheus"}, "critical"),
    # The SLO pages and tickets route by severity.
    ({"alertname": "LatencyBudgetBurnFast", "severity": "critical", "service": "backend", "slo": "latency"},
     "critical"),
    ({"alertname": "LatencyBudgetBurnSlow", "severity": "warning", "service": "backend", "slo": "latency"},
     "warning"),
])
def test_route(labels, receiver):
    args = [f"{k}={v}" for k, v in labels.items()]
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *args)
    assert result.returncode == 0, f"{labels} -> {result.stdout.strip()} (expected {receiver})"


# Data as Alertmanager hands it to the Slack notifier (template.Data).
ALERT = {
    "status": "firing",
    "labels": {"alertname": "BackendDown", "severity": "critical", "service": "backend",
               "instance": "backend:8000", "job": "backend"},
    "annotations": {"summary": "The backend is down", "description": "backend:8000 does not answer scrapes.",
                    "runbook_url": "https://example.org/runbooks#backenddown", "dashboard": "/d/vigil-overview"},
    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    "startsAt": "2026-11-22T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
}
GROUP = {"receiver": "critical", "groupLabels": {"alertname": "BackendDown", "service": "backend"},
         "commonLabels": ALERT["labels"], "commonAnnotations": ALERT["annotations"],
         "externalURL": "http://localhost:9093"}

FIRING_TEXT = (
    ":red_circle: *The backend is down*\n"
    "backend:8000 does not answer scrapes.\n"
    "`instance=backend:8000` `job=backend` `service=backend` \n"
    "<https://example.org/runbooks#backenddown|Runbook> · <http://localhost:3001/d/vigil-overview|Dashboard> · "
    "<http://prometheus:9090/graph?g0.expr=up|Query> · "
    "<http://localhost:9093/#/silences/new?filter=%7Balertname%3D%22BackendDown%22%2Cservice%3D%22backend%22%7D|Silence>\n"
)


def render(name: str, data: dict, tmp_path) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = amtool("template", "render", f"--template.glob={TEMPLATES}/*.tmpl",
                    f"--template.text={{{{ template \"{name}\" . }}}}", f"--template.data={path}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_templates_render_a_firing_message(tmp_path):
    data = {**GROUP, "status": "firing", "alerts": [ALERT]}
    assert render("vigil.slack.title", data, tmp_path) == "[FIRING:1] CRITICAL BackendDown on backend"
    assert render("vigil.slack.text", data, tmp_path) == FIRING_TEXT
    assert render("vigil.slack.color", data, tmp_path) == "danger"
    assert render("vigil.slack.fallback", data, tmp_path) == \
        "[FIRING:1] CRITICAL BackendDown on backend: The backend is down"
    assert render("vigil.slack.footer", data, tmp_path) == "Vigil Alertmanager · receiver critical"
    warning = {**data, "commonLabels": {**ALERT["labels"], "severity": "warning"}}
    assert render("vigil.slack.color", warning, tmp_path) == "warning"
    info = {**data, "commonLabels": {**ALERT["labels"], "severity": "info"}}
    assert render("vigil.slack.color", info, tmp_path) == "#439FE0"


def test_templates_render_a_resolved_message(tmp_path):
    resolved = {**ALERT, "status": "resolved", "endsAt": "2026-11-22T00:05:00Z"}
    data = {**GROUP, "status": "resolved", "alerts": [resolved]}
    assert render("vigil.slack.title", data, tmp_path) == "[RESOLVED] CRITICAL BackendDown on backend"
    text = render("vigil.slack.text", data, tmp_path)
    assert text == ("*Resolved*: every alert of this group has stopped firing.\n"
                    + FIRING_TEXT.replace(":red_circle: *The backend is down*",
                                          ":white_check_mark: *RESOLVED: The backend is down*"))
    assert render("vigil.slack.color", data, tmp_path) == "good"


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    receiver = SlackReceiver().start()
    am = start_shipped_alertmanager(tmp_path_factory.mktemp("secrets"), receiver.url)
    yield am
    am.stop()
    receiver.stop()


def alert(name: str, severity: str, service: str) -> dict:
    return {"labels": {"alertname": name, "severity": severity, "service": service},
            "annotations": {"summary": f"{name} on {service}"}}


def test_inhibitions(alertmanager):
    post_alerts(alertmanager.base_url, [
        # critical mutes the warning of the same alertname and service, not of another service
        alert("HighErrorRatio", "critical", "api"),
        alert("HighErrorRatio", "warning", "api"),
        alert("HighErrorRatio", "warning", "worker"),
        # BackendDown mutes every other alert about the backend, whatever its severity
        alert("BackendDown", "critical", "backend"),
        alert("LLMErrorRatioHigh", "warning", "backend"),
        alert("HighErrorRatio", "critical", "backend"),
        alert("LLMErrorRatioHigh", "warning", "llm-gateway"),
        # TargetDown mutes the other alerts of its service only
        alert("TargetDown", "warning", "redis-exporter"),
        alert("RedisMemoryHigh", "warning", "redis-exporter"),
        alert("RedisMemoryHigh", "warning", "redis"),
    ])

    def states():
        got = {(a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["service"]): a["status"]
               for a in am_alerts(alertmanager.base_url)}
        return got if len(got) == 10 else None

    expected_muted = {("HighErrorRatio", "warning", "api"), ("LLMErrorRatioHigh", "warning", "backend"),
                      ("HighErrorRatio", "critical", "backend"), ("RedisMemoryHigh", "warning", "redis-exporter")}

    def settled():
        got = states()
        if not got:
            return None
        muted = {k for k, s in got.items() if s["inhibitedBy"]}
        return got if muted == expected_muted else None

    try:
        got = wait_until(settled, 15, interval=0.3, message="inhibitions applied")
    except TimeoutError:
        raise AssertionError(f"inhibited alerts differ from {expected_muted}: {states()}")
    for key, status in got.items():
        assert status["state"] == ("suppressed" if key in expected_muted else "active"), (key, status)
