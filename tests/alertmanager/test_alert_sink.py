"""The development alert sink (backend/alert_sink), run as `python -m alert_sink`.

Runs the sink as its own process and a real `alertmanager` (0.33, make tools;
shipped config) that delivers to it, as the Compose stack does by default.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from harness import Proc, free_port, http_get, wait_until
from harness.alerting import post_alerts, shipped_alertmanager
from harness.services import BACKEND_DIR
from harness.monitoring import start_alertmanager

KEEP = 3


@pytest.fixture(scope="module")
def sink():
    port = free_port()
    proc = Proc("alert-sink", [sys.executable, "-m", "alert_sink"], cwd=str(BACKEND_DIR),
                env={"ALERT_SINK_HOST": "127.0.0.1", "ALERT_SINK_PORT": str(port),
                     "ALERT_SINK_MAX_MESSAGES": str(KEEP)}).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.wait_http(proc.base_url + "/health", timeout=20)
    yield proc
    proc.stop()


def post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def messages(sink) -> list[dict]:
    status, body = http_get(sink.base_url + "/api/messages")
    assert status == 200
    return json.loads(body)["messages"]


def log_records(sink) -> list[dict]:
    return [json.loads(line) for line in sink.log().splitlines() if line.strip()]


def test_keeps_the_last_n_and_logs_each_as_json(sink):
    before = {m["id"] for m in messages(sink)}
    sent = [{"channel": "#t", "text": f"message {i}"} for i in range(KEEP + 2)]
    for payload in sent:
        assert post(sink.base_url + "/services/T1/B1/X", json.dumps(payload).encode()) == 200
    kept = messages(sink)
    assert [m["payload"] for m in kept] == list(reversed(sent))[:KEEP]  # newest first, oldest dropped
    assert all(m["path"] == "/services/T1/B1/X" for m in kept)
    assert not before & {m["id"] for m in kept}
    logged = [r for r in log_records(sink) if r["message"] == "slack message received"]
    assert [r["payload"] for r in logged[-len(sent):]] == sent
    assert {r["level"] for r in logged} == {"info"} and {r["service"] for r in logged} == {"alert-sink"}


def test_refuses_what_is_not_a_json_object(sink):
    ids = [m["id"] for m in messages(sink)]
    assert post(sink.base_url + "/", b"not json") == 400
    assert post(sink.base_url + "/", b"[1, 2]") == 400
    assert [m["id"] for m in messages(sink)] == ids


def test_page_lists_messages_escaped(sink):
    payload = {"channel": "#c", "attachments": [{"title": "[FIRING:1] <b>T</b>", "text": "<script>x</script>",
                                                 "color": "danger", "footer": "f"}]}
    assert post(sink.base_url + "/", json.dumps(payload).encode()) == 200
    status, body = http_get(sink.base_url + "/")
    page = body.decode()
    assert status == 200 and "[FIRING:1] &lt;b&gt;T&lt;/b&gt;" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "#a30200" in page  # Slack's "danger" colour


def test_does_not_import_the_app():
    code = "import sys, alert_sink; assert not [m for m in sys.modules if m == 'app' or m.startswith('app.')]"
    subprocess.run([sys.executable, "-c", code], cwd=BACKEND_DIR, check=True, timeout=30)


def test_alertmanager_delivers_to_the_sink(sink, tmp_path):
    """The dev default: SLACK_WEBHOOK_URL points at the sink, which shows what Slack would get."""
    url_file = tmp_path / "slack_webhook_url"
    url_file.write_text(sink.base_url + "/services/dev/sink/0\n")  # a trailing newline as `echo` writes
    am = start_alertmanager(*shipped_alertmanager(url_file))
    try:
        post_alerts(am.base_url, [{
            "labels": {"alertname": "SinkProbe", "severity": "critical", "service": "alert-sink"},
            "annotations": {"summary": "probe for the sink", "description": "d", "runbook_url": "https://r.example",
                            "dashboard": "/d/vigil-overview"}}])

        def delivered():
            return [m for m in messages(sink) if m["path"] == "/services/dev/sink/0"]
        got = wait_until(delivered, 40, interval=0.3, message="Alertmanager's message at the sink")
    finally:
        am.stop()
    payload = got[0]["payload"]
    assert payload["channel"] == "#vigil-critical"
    attachment = payload["attachments"][0]
    assert attachment["title"] == "[FIRING:1] CRITICAL SinkProbe on alert-sink"
    assert attachment["color"] == "danger" and "<https://r.example|Runbook>" in attachment["text"]
    status, page = http_get(sink.base_url + "/")
    assert "CRITICAL SinkProbe on alert-sink" in page.decode()
