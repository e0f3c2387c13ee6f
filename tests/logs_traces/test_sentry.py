"""Sentry reporting, with a local receiver standing in for sentry.io (SENTRY_DSN points at it).

Real programs: uvicorn running (a) a probe FastAPI app that uses the instrumentation folder
exactly as a user would (init_sentry() then instrument()) and has one route that raises, since
the reference backend has no route that fails on purpose, and (b) the reference backend itself.
The real sentry-sdk sends its envelopes over HTTP; the receiver decodes them.
"""
from __future__ import annotations

import json
import textwrap

import httpx
import pytest

from harness import BACKEND_DIR, Proc, free_port, venv_bin, wait_until

from .receivers import SentryReceiver

SECRET = "hunter2-7c1d-not-for-sentry"  # sent in every place a secret can hide in a request

PROBE_APP = textwrap.dedent('''
    """A user's app: Sentry first (when SENTRY_DSN is set), then Vigil's instrumentation."""
    import sentry_sdk
    from fastapi import FastAPI, Request

    from observability import instrument
    from observability.sentry import init_sentry

    ACTIVE = init_sentry(service="probe", version="1.2.3")
    app = FastAPI()

    @app.post("/boom")
    async def boom(request: Request):
        payload = await request.json()
        api_key = request.headers.get("x-api-key")
        note = f"login with password={payload['password']}"
        raise RuntimeError("probe failure")

    @app.get("/sentry-status")
    async def status():
        return {"initialised": ACTIVE, "client_active": sentry_sdk.get_client().is_active()}

    instrument(app, service="probe", version="1.2.3")
''')


@pytest.fixture
def sentry():
    with SentryReceiver() as receiver:
        yield receiver
    assert not receiver.errors, receiver.errors


def start_probe(tmp_path, env: dict) -> Proc:
    (tmp_path / "probe_app.py").write_text(PROBE_APP)
    port = free_port()
    proc = Proc("sentry-probe", [venv_bin("uvicorn"), "probe_app:app", "--app-dir", str(tmp_path),
                                 "--host", "127.0.0.1", "--port", str(port)],
                env={"PYTHONPATH": str(BACKEND_DIR), "SENTRY_DSN": "", **env}, cwd=str(tmp_path)).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.wait_http(proc.base_url + "/sentry-status")
    return proc


def send_secrets(base_url: str) -> httpx.Response:
    return httpx.post(f"{base_url}/boom?token={SECRET}&page=2", json={"password": SECRET, "name": "x"},
                      headers={"Authorization": f"Bearer {SECRET}", "X-API-Key": SECRET,
                               "Cookie": f"session={SECRET}"}, timeout=10)


def test_unhandled_exception_reaches_sentry_scrubbed(tmp_path, sentry):
    probe = start_probe(tmp_path, {"SENTRY_DSN": f"http://public@127.0.0.1:{sentry.port}/1",
                                   "SENTRY_TRACES_SAMPLE_RATE": "1.0"})
    try:
        assert httpx.get(probe.base_url + "/sentry-status").json() == {"initialised": True, "client_active": True}
        assert send_secrets(probe.base_url).status_code == 500
        raw, event = wait_until(lambda: (sentry.events() or [None])[0], 20, message="an error event")
        (exc,) = event["exception"]["values"]
        assert (exc["type"], exc["value"]) == ("RuntimeError", "probe failure")
        assert event["release"] == "probe@1.2.3"
        # Locals are sent (they are what makes Sentry useful) but secret ones are masked.
        frame = [f for f in exc["stacktrace"]["frames"] if f.get("function") == "boom"][-1]
        assert frame["vars"]["api_key"] == "[Filtered]"
        assert SECRET not in json.dumps(frame["vars"])
        request = event["request"]
        assert "data" not in request and "cookies" not in request
        assert not {"authorization", "x-api-key", "cookie"} & {h.lower() for h in request["headers"]}
        assert "page=2" in request["query_string"]  # harmless parameters stay
        # Wait for the transaction too (sampled at 1.0 here), then search everything sent.
        wait_until(lambda: any(i.get("type") == "transaction" for _, _, items in sentry.envelopes
                               for i, _ in items), 20, message="the transaction envelope")
    finally:
        probe.stop()
    for raw_envelope, _, _ in sentry.envelopes:
        assert SECRET.encode() not in raw_envelope


def test_no_dsn_no_sentry(tmp_path, sentry):
    probe = start_probe(tmp_path, {"SENTRY_DSN": ""})
    assert httpx.get(probe.base_url + "/sentry-status").json() == {"initialised": False, "client_active": False}
    assert send_secrets(probe.base_url).status_code == 500
    probe.stop()  # an initialised SDK flushes its queue at exit: nothing may have been queued
    assert probe.popen.returncode is not None
    assert sentry.requests == 0


def test_backend_reports_to_sentry_when_dsn_set(backend_factory, sentry):
    """The reference backend wires Sentry in create_app(): its transactions arrive, scrubbed."""
    backend = backend_factory(env={"SENTRY_DSN": f"http://public@127.0.0.1:{sentry.port}/1",
                                   "SENTRY_TRACES_SAMPLE_RATE": "1.0", "SENTRY_PROFILES_SAMPLE_RATE": "0"})
    r = httpx.get(backend.base_url + "/api/stats/cost-summary?period_hours=24",
                  headers={"Authorization": f"Bearer {SECRET}", "X-API-Key": SECRET}, timeout=10)
    assert r.status_code == 200

    def transaction():
        for raw, _, items in sentry.envelopes:
            for item, payload in items:
                if item.get("type") == "transaction":
                    body = json.loads(payload)
                    if body.get("transaction") == "/api/stats/cost-summary":
                        return raw, body
    raw, body = wait_until(transaction, 20, message="the backend's transaction")
    assert SECRET.encode() not in raw
    assert body["release"].startswith("backend@")
    # The SQLAlchemy integration recorded the statements of this request.
    assert any(span.get("op") == "db" for span in body["spans"]), [s.get("op") for s in body["spans"]]


def test_backend_sends_no_client_address_and_one_event_per_error_in_a_flood(backend_factory, sentry, redis_url):
    """Redis in use (rate-limit and block keys hold the client's address) and the database down, so every
    request logs "database unavailable": 40 requests give one event, and no payload holds an address."""
    backend = backend_factory(env={
        "SENTRY_DSN": f"http://public@127.0.0.1:{sentry.port}/1", "SENTRY_TRACES_SAMPLE_RATE": "1.0",
        "REDIS_URL": redis_url, "RATE_LIMIT_PER_MINUTE": "600", "DB_TIMEOUT_SECONDS": "0.5",
        "DATABASE_URL": f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/none"})  # nothing listens
    with httpx.Client(base_url=backend.base_url, headers={"Host": "backend.example"}, timeout=10) as client:
        codes = [client.get("/api/stats/real-time").status_code for _ in range(40)]
    assert codes == [503] * 40

    def items():
        return [(item, payload) for _, _, its in sentry.envelopes for item, payload in its]

    def transactions():
        return [json.loads(p) for i, p in items() if i.get("type") == "transaction"
                and json.loads(p).get("transaction") == "/api/stats/real-time"]
    found = wait_until(lambda: len(t := transactions()) == 40 and t, 30, message="40 transactions")
    outage = [e for _, e in sentry.events() if (e.get("logentry") or {}).get("message") == "database unavailable"]
    redis_spans = [s for t in found for s in t["spans"] if s.get("op", "").startswith("db.redis")]
    leaks = [i.get("type") for i, p in items() if b"127.0.0.1" in p or b"ip:127" in p]
    print(f"40 requests during a database outage: {len(outage)} Sentry event(s) for it; {len(redis_spans)} Redis "
          f"spans named {sorted({s['description'] for s in redis_spans})}; items holding the client address: "
          f"{len(leaks)}; profiles: {sum(i.get('type') == 'profile' for i, _ in items())}")
    assert len(outage) == 1
    assert redis_spans and all(" " not in s["description"] and "redis.key" not in s.get("tags", {})
                               for s in redis_spans)
    assert leaks == []
    assert not any(i.get("type") == "profile" for i, _ in items())  # profiles are off unless asked for
