"""Edges found under pressure (issue 26, point 8), each against the real backend: uvicorn (h11, as the image
runs it; one listening on :: for ::1), gunicorn with app/server.py's worker, a real PostgreSQL and redis-server
from tests/harness.
"""
from __future__ import annotations

import http.client
import json
import socket

from backend.helpers import request
from harness import wait_until
from app.security.clients import client_key


def _raw(host: str, port: int, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_head_answers_every_get_route_without_a_body(backend):
    """Before: 405 on every GET route while Allow listed HEAD."""
    for path in ("/health", "/api/models", "/api/workflows/projects", "/api/stats/real-time"):
        get_status, get_headers, get_body = _raw("127.0.0.1", backend.port, "GET", path)
        status, headers, body = _raw("127.0.0.1", backend.port, "HEAD", path)
        assert (status, body) == (get_status, b"") and get_body, (path, status)
        assert headers["content-type"] == get_headers["content-type"]
    assert _raw("127.0.0.1", backend.port, "HEAD", "/api/workflows")[0] == 405  # POST only


def test_a_blocked_client_gets_403_on_ready_too(backend_factory):
    """Before: a blocked client still had unlimited /ready (a database round trip each). /metrics stays open:
    Prometheus may share the address (NAT, one host), and the public proxy does not route it."""
    be = backend_factory(env={"BLOCK_AFTER_EVENTS": "2"})
    for _ in range(2):
        request("GET", be.base_url + "/api/models?q=%27%20OR%201=1")
    assert request("GET", be.base_url + "/api/models")[0] == 403
    codes = {p: request("GET", be.base_url + p)[0] for p in ("/ready", "/metrics", "/health")}
    print(f"blocked client: {codes}")
    assert codes == {"/ready": 403, "/metrics": 200, "/health": 200}


def test_monitoring_paths_are_never_probes(backend_factory):
    be = backend_factory(env={"BLOCK_AFTER_EVENTS": "1"})
    assert request("GET", be.base_url + "/ready?x=%27%20OR%201=1")[0] == 200
    assert request("GET", be.base_url + "/api/models")[0] == 200  # not blocked by that


def test_loopback_over_ipv6_and_ipv4_share_one_rate_limit_bucket(backend_factory):
    """Before: ::1 and 127.0.0.1 (and every address of an IPv6 /64) were separate buckets."""
    be = backend_factory(server="gunicorn", host="::",  # gunicorn's [::] takes IPv4 too; asyncio's is IPv6 only
                         env={"RATE_LIMIT_PER_MINUTE": "4", "BLOCK_AFTER_EVENTS": "100"})
    wait_until(lambda: _raw("::1", be.port, "GET", "/health")[0] == 200, 10, message="the backend on ::1")
    codes = [_raw(host, be.port, "GET", "/api/models")[0] for host in ("127.0.0.1", "::1") * 3]
    print(f"127.0.0.1 and ::1 alternating, limit 4 a minute: {codes}")
    assert codes == [200] * 4 + [429] * 2


def test_an_ipv6_client_is_its_slash_64():
    same = [client_key({"client": (a, 1)}) for a in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff")]
    assert same[0] == same[1] == "ip:2001:db8:1:2::/64"
    assert client_key({"client": ("2001:db8:1:3::1", 1)}) != same[0]
    assert client_key({"client": ("::ffff:192.0.2.7", 1)}) == client_key({"client": ("192.0.2.7", 1)})


def test_fault_rates_refuse_booleans(backend):
    """Before: "http_error_rate": false was taken as 0."""
    for body in ({"http_error_rate": False}, {"providers": {"openai": {"failure_rate": True}}}):
        assert request("PUT", backend.base_url + "/api/admin/faults", body)[0] == 422, body
    ok = {"http_error_rate": 0, "duration_seconds": 1}
    assert request("PUT", backend.base_url + "/api/admin/faults", ok)[0] == 200


def test_trailing_slash_is_not_redirected_to_the_host_header(backend):
    """Before: GET /api/models/ answered 307 to http://<Host header>/api/models."""
    status, headers, _ = _raw("127.0.0.1", backend.port, "GET", "/api/models/", {"Host": "evil.example"})
    assert status == 404 and "location" not in headers


def test_the_api_document_has_security_schemes_and_readys_503(backend):
    _, _, doc = request("GET", backend.base_url + "/openapi.json")
    schemes = doc["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {("header", "X-API-Key"),
                                                                 ("header", "X-Admin-Token")}
    assert doc["paths"]["/api/workflows"]["post"]["security"] == [{"ApiKey": []}]
    assert doc["paths"]["/api/admin/faults"]["put"]["security"] == [{"AdminToken": []}]
    assert "503" in doc["paths"]["/ready"]["get"]["responses"]


def test_a_64_kib_head_in_one_read_gets_400_from_gunicorn(backend_factory):
    """Before: h11 bounded only heads split across reads; a whole 64 KiB head in one read was parsed."""
    be = backend_factory(server="gunicorn", workers=1)
    head = b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", be.port), timeout=10) as s:
        s.sendall(head)
        answer = s.recv(200)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    cookie = {"cookie": "c=" + "x" * 12000}  # a large but legitimate head
    assert _raw("127.0.0.1", be.port, "GET", "/api/models", cookie)[0] == 200
    # A body after a small head is no head: a 60 KiB upload in one read still reaches the app.
    body = json.dumps({"name": "big", "input": "x" * 7000}).encode()
    with socket.create_connection(("127.0.0.1", be.port), timeout=10) as s:
        s.sendall(b"POST /api/workflows HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert s.recv(200).startswith(b"HTTP/1.1 202")


def test_first_start_of_several_workers_on_an_empty_database_creates_the_schema_once(backend_factory, postgres):
    """Before: 4 of 7 first starts logged "schema creation failed (UniqueViolation)"."""
    failures = 0
    for attempt in range(3):
        name = f"t_first_start_{attempt}"
        postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        be = backend_factory(server="gunicorn", workers=4, env={"DATABASE_URL": postgres.create_database(name)})
        wait_until(lambda: be.log().count("backend started") == 4, 60, message="4 workers started")
        failures += be.log().count("schema creation failed")
        be.stop()
    print(f"3 first starts of 4 workers on an empty database: {failures} schema creation failures")
    assert failures == 0
