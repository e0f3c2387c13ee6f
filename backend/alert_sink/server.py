"""The sink's HTTP server and message store (standard library only)."""
from __future__ import annotations

import collections
import html
import itertools
import json
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY_BYTES = 1024 * 1024  # Slack itself refuses much smaller messages


def log(message: str, level: str = "info", **fields) -> None:
    """One JSON object per line on stdout, the same keys the backend's logs use."""
    record = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
              "level": level, "logger": "alert_sink", "service": "alert-sink", "message": message, **fields}
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class MessageStore:
    """The last ``maxlen`` messages, oldest dropped first; safe across handler threads."""

    def __init__(self, maxlen: int = 100):
        self._messages: collections.deque = collections.deque(maxlen=max(1, maxlen))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, path: str, payload: dict) -> dict:
        with self._lock:
            record = {"id": next(self._ids),
                      "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                      "path": path, "payload": payload}
            self._messages.append(record)
            return record

    def newest_first(self) -> list[dict]:
        with self._lock:
            return list(reversed(self._messages))


class Handler(BaseHTTPRequestHandler):
    store: MessageStore  # set by make_server
    server_version = "vigil-alert-sink"

    def do_POST(self):  # any path: Slack webhook URLs look like /services/T000/B000/XXXX
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._reply(413, "payload_too_large")
        try:
            payload = json.loads(self.rfile.read(length))
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            return self._reply(400, "invalid_payload")  # Slack's own answer to a malformed body
        record = self.store.add(self.path, payload)
        log("slack message received", id=record["id"], path=self.path, payload=payload)
        self._reply(200, "ok")

    def do_GET(self):
        route = self.path.split("?", 1)[0]
        if route == "/api/messages":
            body = json.dumps({"messages": self.store.newest_first()}, ensure_ascii=False)
            return self._reply(200, body, "application/json")
        if route == "/health":
            return self._reply(200, "ok")
        if route == "/":
            return self._reply(200, render_page(self.store.newest_first()), "text/html; charset=utf-8")
        self._reply(404, "not found")

    def _reply(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # the JSON line above replaces the stderr access log
        pass


# Slack's named attachment colours; anything else is used as given (e.g. "#439FE0").
COLOURS = {"good": "#2eb886", "warning": "#daa038", "danger": "#a30200"}


def render_page(messages: list[dict]) -> str:
    """A page that shows each message roughly as Slack would: colour bar, title, text."""
    esc = html.escape
    items = []
    for m in messages:
        p = m["payload"]
        blocks = p.get("attachments") or [{"text": p.get("text", "")}]
        parts = []
        for a in blocks:
            colour = str(a.get("color") or "#ccc")
            colour = COLOURS.get(colour, colour)
            parts.append(
                f'<div class="att" style="border-color:{esc(colour)}">'
                f'<b>{esc(str(a.get("title", "")))}</b><pre>{esc(str(a.get("text", "")))}</pre>'
                f'<small>{esc(str(a.get("footer", "")))}</small></div>')
        items.append(f'<li><small>#{m["id"]} {esc(m["received_at"])} · {esc(str(p.get("channel", "")))}'
                     f' · {esc(m["path"])}</small>{"".join(parts)}</li>')
    body = "".join(items) or "<li>No messages yet. Try <code>make demo-alert</code>.</li>"
    return ("<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
            "<title>Vigil alert sink</title><style>body{font-family:sans-serif;margin:2em}"
            "ul{list-style:none;padding:0}li{margin-bottom:1.5em}"
            ".att{border-left:5px solid;padding:.3em .8em;margin-top:.3em}"
            "pre{white-space:pre-wrap;margin:.3em 0}</style></head><body>"
            "<h1>Vigil alert sink</h1><p>What Slack would receive, newest first"
            " (JSON: <a href='/api/messages'>/api/messages</a>).</p>"
            f"<ul>{body}</ul></body></html>")


def make_server(host: str, port: int, store: MessageStore) -> ThreadingHTTPServer:
    handler = type("SinkHandler", (Handler,), {"store": store})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
