"""OTLP/HTTP span export with spans encoded by hand: the same bytes for about a sixth of the instructions.

The stock exporter builds a protobuf message object for every span, attribute and value
before serialising them; at 10 % sampling that is a third of what tracing costs the server.
This module writes the protobuf wire format directly. tests/logs_traces/test_otlp_encoding.py checks
that it gives byte for byte what ``opentelemetry-exporter-otlp-proto-common`` gives. The SDK's
own spans without events or links (a server span) are read from their fields (``_sdk_span``), at
the pinned SDK's layout, which that test holds; any other span through its public properties.

Only the encoding changes: endpoint, headers, TLS, compression, timeout and retries stay the
stock exporter's, because the bytes go to its own HTTP client. The stock export runs instead
for a batch this encoder does not take (a value the stock encoder would drop or fail on, an
oversized request), when the exporter reports its own metrics, and on exporter versions
without that client (before 1.45).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from struct import pack

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind, StatusCode

_INT64 = range(-(1 << 63), 1 << 63)
_LOCAL_PARENT, _REMOTE_PARENT = pack("<I", 0x100), pack("<I", 0x300)  # Span.flags: "is_remote" known, and set
_SMALL = [bytes((n,)) for n in range(128)]  # a varint below 128 is one byte: most lengths here
_KIND = {kind: b"\x30" + _SMALL[kind.value + 1] for kind in SpanKind}  # the proto's SpanKind counts from 1
_SERVER_KIND = _KIND[SpanKind.SERVER]
_KEYS: dict[str, bytes] = {}  # attribute key -> its encoded KeyValue.key field; keys are few and fixed
_PAIRS: dict[tuple, bytes] = {}  # (field tag, key, str or int value) -> the encoded KeyValue field


class Unsupported(ValueError):
    """A value the stock encoder handles its own way (it logs and drops it): leave the batch to it."""


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload (strings, bytes, messages)."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 0x80 else _varint(n)) + payload


def _text(tag: bytes, text: str | None) -> bytes:
    """A string field; proto3 leaves an empty one out."""
    return _field(tag, text.encode()) if text else b""


def _value(v) -> bytes:
    """An AnyValue message (common.proto). The oneof is written even when it holds a default."""
    if v is None:
        return b""
    if isinstance(v, bool):
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, str):
        return _field(b"\x0a", v.encode())
    if isinstance(v, int):
        if v not in _INT64:
            raise Unsupported(f"integer out of int64 range: {v}")
        return b"\x18" + _varint(v & 0xFFFFFFFFFFFFFFFF)
    if isinstance(v, float):
        return b"\x21" + pack("<d", v)
    if isinstance(v, bytes):
        return _field(b"\x3a", v)
    if isinstance(v, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _value(x)) for x in v))
    if isinstance(v, Mapping):
        return _field(b"\x32", _attributes(b"\x0a", {str(k): x for k, x in v.items()}))
    raise Unsupported(f"attribute value of type {type(v).__name__}")


def _attributes(tag: bytes, attributes) -> bytes:
    """Repeated KeyValue fields. Strings, the common case, are written inline: this loop is the hot path.
    A string or integer pair is kept once written (most repeat: a method, a route, a status), the cache
    started over when full (a path per request fills it)."""
    if not attributes:
        return b""
    out = []
    for k, v in attributes.items():
        t = type(v)
        if t is str or t is int:  # not bool or float: True == 1 == 1.0 would share a key and not their bytes
            pair = _PAIRS.get((tag, k, v))
            if pair is not None:
                out.append(pair)
                continue
        key = _KEYS.get(k)
        if key is None:
            key = _text(b"\x0a", k)
            if len(_KEYS) < 1024:
                _KEYS[k] = key
        if t is str:
            text = v.encode()
            n = len(text)
            value = (b"\x12" + _SMALL[n + 2] + b"\x0a" + _SMALL[n] + text if n < 126
                     else _field(b"\x12", _field(b"\x0a", text)))
        else:
            value = _field(b"\x12", _value(v))
        n = len(key) + len(value)
        pair = tag + (_SMALL[n] if n < 0x80 else _varint(n)) + key + value
        if t is str or t is int:
            if len(_PAIRS) >= 4096:
                _PAIRS.clear()
            _PAIRS[(tag, k, v)] = pair
        out.append(pair)
    return b"".join(out)


def _count(tag: bytes, n: int) -> bytes:
    """A varint field (counts, enums); proto3 leaves a zero out."""
    return tag + _varint(n) if n else b""


def _time(tag: bytes, nanos: int) -> bytes:
    """A fixed64 field (timestamps in ns); proto3 leaves a zero out."""
    return tag + pack("<Q", nanos) if nanos else b""


def _span_message(trace_id: int, span_id: int, trace_state, parent, name: str, kind, start: int, end: int,
                  attributes, dropped_attributes: int, events, dropped_events: int, links, dropped_links: int,
                  code, description) -> bytes:
    """A Span message (trace.proto), fields in number order as protobuf writes them. ``parent``: a
    SpanContext or None (read as the tuple it is: span id, is_remote)."""
    out = [b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big")]
    if trace_state:
        out.append(_text(b"\x1a", ",".join(f"{k}={v}" for k, v in trace_state.items())))
    if parent is not None:
        out += (b"\x22\x08", parent[1].to_bytes(8, "big"))
    if name:
        out.append(_field(b"\x2a", name.encode()))
    out += (_SERVER_KIND if kind is SpanKind.SERVER else _KIND[kind],
            b"\x39" + pack("<Q", start) if start else b"", b"\x41" + pack("<Q", end) if end else b"",
            _attributes(b"\x4a", attributes))
    if dropped_attributes:
        out.append(_count(b"\x50", dropped_attributes))
    for e in events:
        out.append(_field(b"\x5a", _time(b"\x09", e.timestamp) + _text(b"\x12", e.name)
                          + _attributes(b"\x1a", e.attributes) + _count(b"\x20", e.dropped_attributes)))
    if dropped_events:
        out.append(_count(b"\x60", dropped_events))
    for link in links:
        out.append(_field(b"\x6a", b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
                          + b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
                          + _attributes(b"\x22", link.attributes) + _count(b"\x28", link.dropped_attributes)
                          + b"\x35" + (_REMOTE_PARENT if link.context.is_remote else _LOCAL_PARENT)))
    if dropped_links:
        out.append(_count(b"\x70", dropped_links))
    out += (b"\x7a\x00" if code is StatusCode.UNSET and not description else
            _field(b"\x7a", _text(b"\x12", description) + _count(b"\x18", code.value)),
            b"\x85\x01", _REMOTE_PARENT if parent is not None and parent[2] else _LOCAL_PARENT)
    return b"".join(out)


def _span(s) -> bytes:
    """Any ReadableSpan's message, through its public properties."""
    ctx, status = s.context, s.status
    return _span_message(ctx.trace_id, ctx.span_id, ctx.trace_state, s.parent, s.name, s.kind, s.start_time,
                         s.end_time, s.attributes, s.dropped_attributes, s.events, s.dropped_events, s.links,
                         s.dropped_links, status.status_code, status.description)


def _sdk_span(s) -> bytes | None:
    """_span(s) for the SDK's own ReadableSpan with no events and no links (a server span), read from its
    fields: its properties each cost a Python call, and its attributes one more per item (the mapping proxy
    walks them through __iter__ and __getitem__). None for any other span: _span() takes it."""
    attributes, events, links = s._attributes, s._events, s._links
    if (type(attributes) is not BoundedAttributes or type(events) is not BoundedList
            or type(links) is not BoundedList or events._dq or links._dq):
        return None
    ctx, status = s._context, s._status
    return _span_message(ctx[0], ctx[1], ctx[4], s._parent, s._name, s._kind, s._start_time, s._end_time,
                         attributes._dict, attributes.dropped, (), events.dropped, (), links.dropped,
                         status._status_code, status._description)


def encode_spans(spans) -> bytes:
    """An ExportTraceServiceRequest: spans grouped by resource, then by scope, as the stock encoder does."""
    groups: dict = {}  # Resource -> {InstrumentationScope or None -> [encoded spans]}
    seen: dict = {}  # id(Resource) -> its entry in groups: a Resource hashes itself through json.dumps
    for s in spans:
        if type(s) is ReadableSpan:  # the SDK's spans: fields, not properties (see _sdk_span)
            resource, scope, encoded = s._resource, s._instrumentation_scope, _sdk_span(s)
        else:
            resource, scope, encoded = s.resource, s.instrumentation_scope, None
        scopes = seen.get(id(resource))
        if scopes is None:
            scopes = seen[id(resource)] = groups.setdefault(resource, {})
        scopes.setdefault(scope or None, []).append(_field(b"\x12", encoded if encoded is not None else _span(s)))
    out = []
    for resource, scopes in groups.items():
        body = [_field(b"\x0a", _attributes(b"\x0a", resource.attributes))]
        for scope, encoded in scopes.items():
            head = b"" if scope is None else (_text(b"\x0a", scope.name) + _text(b"\x12", scope.version)
                                              + _attributes(b"\x1a", scope.attributes))
            body.append(_field(b"\x12", _field(b"\x0a", head) + b"".join(encoded)
                               + _text(b"\x1a", scope.schema_url if scope else None)))
        body.append(_text(b"\x1a", resource.schema_url))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """OTLPSpanExporter (same arguments, same environment variables) with encode_spans above."""

    def export(self, spans) -> SpanExportResult:
        client = getattr(self, "_client", None)
        if (self._shutdown or not hasattr(client, "export")
                or os.getenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true"):
            return super().export(spans)
        try:
            data = encode_spans(spans)
        except (Unsupported, UnicodeEncodeError):
            return super().export(spans)
        limit = getattr(self, "_max_request_size", 0)
        if 0 < limit < len(data):
            return super().export(spans)  # it logs the drop and counts the failure
        return SpanExportResult.SUCCESS if client.export(data).success else SpanExportResult.FAILURE
