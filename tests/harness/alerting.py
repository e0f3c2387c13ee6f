"""Alerting helpers: a Slack-shaped test receiver and the shipped Alertmanager config.

The receiver runs inside the test process (a threaded http.server), records
every POST with the time it arrived and the status it answered, and can be told
to answer 500 to some payloads to simulate a Slack outage.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .monitoring import ALERTMANAGER_DIR, start_alertmanager

# Where Compose mounts the webhook URL secrets; tests point them at temporary files.
SECRETS_DIR = "/run/secrets/"
SLACK_URL_SECRET = SECRETS_DIR + "slack_webhook_url"


@dataclass
class Delivery:
    at: float          # time.monotonic() when the POST arrived
    path: str
    payload: dict
    status: int        # what the receiver answered

    @property
    def attachment(self) -> dict:  # empty for a non-Slack (webhook) payload
        return (self.payload.get("attachments") or [{}])[0]

    @property
    def title(self) -> str:
        return self.attachment.get("title", "")

    @property
    def text(self) -> str:
        return self.attachment.get("text", "")


class SlackReceiver:
    """A local stand-in for a Slack webhook; ``fail_if(payload)`` -> True answers 500."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        self.fail_if = lambda payload: False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                status = 500 if receiver.fail_if(payload) else 200
                with receiver._lock:
                    receiver.deliveries.append(Delivery(time.monotonic(), self.path, payload, status))
                body = b"ok" if status == 200 else b"simulated outage"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/test"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "SlackReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, predicate, status: int | None = 200) -> list[Delivery]:
        """Deliveries matching ``predicate`` (only those answered ``status``, unless None)."""
        with self._lock:
            return [d for d in self.deliveries if (status is None or d.status == status) and predicate(d)]


def shipped_alertmanager(url_file: Path) -> tuple[str, dict[str, str]]:
    """alertmanager.yml and its templates as shipped; only the secrets' paths are replaced
    (by files of the same names beside ``url_file``, the Slack URL secret)."""
    config = (ALERTMANAGER_DIR / "alertmanager.yml").read_text()
    assert SLACK_URL_SECRET in config, "alertmanager.yml no longer reads the Slack URL secret"
    files = {str(p.relative_to(ALERTMANAGER_DIR)): p.read_text()
             for p in sorted((ALERTMANAGER_DIR / "templates").glob("*.tmpl"))}
    return config.replace(SECRETS_DIR, f"{url_file.parent}/"), files


def start_shipped_alertmanager(secret_dir: Path, slack_url: str, webhooks: dict[str, str] | None = None):
    """The shipped Alertmanager, its Slack URL secret (a file in ``secret_dir``) holding ``slack_url``;
    its other URL secrets (heartbeat_url, escalation_webhook_url) hold ``webhooks[name]``, by default
    ``slack_url`` too (their payloads have no Slack attachment, so Slack finders skip them)."""
    url_file = secret_dir / "slack_webhook_url"
    url_file.write_text(slack_url)
    for name in ("heartbeat_url", "escalation_webhook_url"):
        (secret_dir / name).write_text((webhooks or {}).get(name, slack_url))
    return start_alertmanager(*shipped_alertmanager(url_file))


def post_alerts(am_base_url: str, alerts: list[dict]) -> None:
    """Send alerts the way Prometheus does (API v2); raises on an HTTP error."""
    req = urllib.request.Request(f"{am_base_url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200, r.status


def am_alerts(am_base_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{am_base_url}/api/v2/alerts", timeout=5) as r:
        return json.loads(r.read())
