"""Local stand-ins for the collectors the backend talks to, run inside the test process.

``OtlpReceiver`` answers OTLP/HTTP exports (POST /v1/traces, protobuf) the way
Jaeger's OTLP receiver does and keeps the decoded spans; ``SentryReceiver``
accepts Sentry envelopes (POST /api/<project>/envelope/) and keeps their items.
Both are plain http.server threads on a free port.
"""
from __future__ import annotations

import gzip
import json
import os
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict
    status_code: int
    service: str
    raw: object = field(repr=False, default=None)


def _value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _decode_body(headers, body: bytes) -> bytes:
    encoding = (headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding:
        raise ValueError(f"unsupported Content-Encoding {encoding}")
    return body


class _Server:
    path_prefix = "/"

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    status, ctype, reply = owner.handle(self.path, self.headers, body)
                except Exception as exc:  # a decoding error is a test failure: keep it
                    owner.errors.append(repr(exc))
                    status, ctype, reply = 400, "text/plain", repr(exc).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.errors: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class OtlpReceiver(_Server):
    """Decodes ExportTraceServiceRequest protobufs posted to /v1/traces.

    ``bodies`` keeps each request's bytes (decompressed) and ``headers`` its headers;
    ``status`` set to an error code makes it refuse every export with that code.
    """

    def __init__(self):
        super().__init__()
        self.spans: list[Span] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.status = 200

    def handle(self, path, headers, body):
        if path != "/v1/traces":
            return 404, "text/plain", b"not found"
        if self.status != 200:
            with self._lock:
                self.requests += 1
            return self.status, "text/plain", b"refused"
        raw = _decode_body(headers, body)
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(raw)
        decoded = []
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    decoded.append(Span(
                        name=s.name, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(), kind=s.kind,
                        attributes={a.key: _value(a.value) for a in s.attributes},
                        status_code=s.status.code, service=resource.get("service.name"), raw=s))
        with self._lock:
            self.requests += 1
            self.spans.extend(decoded)
            self.bodies.append(raw)
            self.headers.append(dict(headers))
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return 200, "application/x-protobuf", reply

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)


def traceparent() -> tuple[str, str, str]:
    """A fresh sampled W3C traceparent header: (header, trace_id, parent span id)."""
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    return f"00-{trace_id}-{parent}-01", trace_id, parent


def parse_envelope(data: bytes) -> tuple[dict, list[tuple[dict, bytes]]]:
    """Split a Sentry envelope into its header and (item header, payload) pairs."""
    header_line, _, rest = data.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[:item["length"]], rest[item["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return json.loads(header_line), items


class SentryReceiver(_Server):
    """Keeps every envelope posted to /api/<project>/envelope/ (decompressed, raw and parsed)."""

    def __init__(self):
        super().__init__()
        self.envelopes: list[tuple[bytes, dict, list]] = []

    def handle(self, path, headers, body):
        if not (path.startswith("/api/") and path.split("?")[0].endswith("/envelope/")):
            return 404, "text/plain", b"not found"
        raw = _decode_body(headers, body)
        header, items = parse_envelope(raw)
        with self._lock:
            self.requests += 1
            self.envelopes.append((raw, header, items))
        return 200, "application/json", b"{}"

    def events(self) -> list[tuple[bytes, dict]]:
        """(raw envelope, event payload) for every error event received."""
        with self._lock:
            found = []
            for raw, _, items in self.envelopes:
                for item, payload in items:
                    if item.get("type") == "event":
                        found.append((raw, json.loads(payload)))
            return found
