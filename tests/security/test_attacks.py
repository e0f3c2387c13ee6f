"""Attacks against the real backend: uvicorn (h11, as the image runs it) and gunicorn, with a real
redis-server from tests/harness; `python backend/app/preflight.py` for production secrets.
"""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
import time

from backend.helpers import request
from harness import REPO, wait_until


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _flood_headers(port: int, total_bytes: int) -> bytes:
    """Send one request whose head grows to ``total_bytes``; return what the server answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /api/models HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Flood: " + b"a" * 8000 + b"\r\n"
        try:
            for _ in range(total_bytes // len(line)):
                s.sendall(line)
        except OSError:  # the server closed the connection: what we want
            pass
        try:
            return s.recv(200)
        except OSError:
            return b""
    finally:
        s.close()


def test_header_flood_is_refused_and_memory_stays_bounded(backend_factory):
    """8 connections each sending 40 MB of headers: each gets 400 and the worker's peak RSS barely moves."""
    be = backend_factory()
    before = _peak_rss_mb(be.pid)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(_flood_headers(be.port, 40 * 2**20)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = _peak_rss_mb(be.pid)
    print(f"peak RSS before {before:.0f} MB, after the flood {after:.0f} MB")
    assert len(answers) == 8 and all(a == b"" or a.startswith(b"HTTP/1.1 400") for a in answers), answers
    assert after - before < 20, (before, after)
    assert request("GET", be.base_url + "/api/models")[0] == 200  # still serving
    # A legitimate large head (12 KiB of cookies) is still accepted.
    assert request("GET", be.base_url + "/api/models", headers={"cookie": "c=" + "x" * 12000})[0] == 200


def _in_window():
    wait_until(lambda: time.time() % 60 < 45, 20, interval=0.5, message="start of a rate-limit window")


def test_rotating_x_forwarded_for_escapes_neither_rate_limit_nor_block(backend_factory):
    be = backend_factory(env={"RATE_LIMIT_PER_MINUTE": "5", "BLOCK_AFTER_EVENTS": "3", "BLOCK_SECONDS": "60"})
    _in_window()
    codes = [request("GET", be.base_url + "/api/models", headers={"x-forwarded-for": f"10.0.0.{i}"})[0]
             for i in range(20)]
    assert codes.count(200) == 5 and set(codes[5:]) <= {429, 403}, codes
    status, _, _ = request("GET", be.base_url + "/api/models", headers={"x-forwarded-for": "203.0.113.99"})
    assert status == 403  # blocked, whatever address it claims


def test_behind_a_trusted_proxy_each_real_client_has_its_own_limit(backend_factory):
    """FORWARDED_ALLOW_IPS names the proxy (here 127.0.0.1): the address it forwards is the client's."""
    be = backend_factory(env={"RATE_LIMIT_PER_MINUTE": "5", "BLOCK_AFTER_EVENTS": "100",
                              "FORWARDED_ALLOW_IPS": "127.0.0.1"}, server="gunicorn")
    _in_window()
    alice = [request("GET", be.base_url + "/api/models", headers={"x-forwarded-for": "198.51.100.1"})[0]
             for _ in range(7)]
    bob = [request("GET", be.base_url + "/api/models", headers={"x-forwarded-for": "198.51.100.2"})[0]
           for _ in range(5)]
    assert alice == [200] * 5 + [429] * 2 and bob == [200] * 5


def test_admin_endpoints_need_their_own_token_and_fault_injection_can_be_off(backend_factory):
    token = "adm-" + "x" * 28
    be = backend_factory(env={"ADMIN_TOKEN": token, "API_KEYS": "k" * 20, "BLOCK_AFTER_EVENTS": "100"})
    url = be.base_url + "/api/admin/faults"
    attack = {"http_error_rate": 1, "duration_seconds": 3600}
    assert request("PUT", url, attack)[0] == 401
    assert request("PUT", url, attack, {"x-api-key": "k" * 20})[0] == 401  # an API key is not enough
    assert request("PUT", url, attack, {"x-admin-token": "wrong"})[0] == 401
    assert request("GET", url)[0] == 401
    assert request("PUT", url, {"duration_seconds": 5}, {"x-admin-token": token})[0] == 200
    off = backend_factory(env={"ADMIN_TOKEN": token, "FAULT_INJECTION": "false"})
    status, _, body = request("PUT", off.base_url + "/api/admin/faults", attack, {"x-admin-token": token})
    assert status == 403 and "disabled" in body["detail"]
    assert request("GET", off.base_url + "/api/models")[0] == 200


def test_injected_faults_reach_every_gunicorn_worker_through_redis(backend_factory, redis_url):
    be = backend_factory(env={"REDIS_URL": redis_url}, server="gunicorn", workers=2)
    assert request("PUT", be.base_url + "/api/admin/faults", {"http_error_rate": 1, "duration_seconds": 30})[0] == 200
    time.sleep(1.1)  # each worker re-reads the shared faults at most once a second (faults.REFRESH_SECONDS)
    codes = [request("GET", be.base_url + "/api/stats/real-time")[0] for _ in range(40)]
    assert codes.count(503) == 40, codes
    request("DELETE", be.base_url + "/api/admin/faults")
    wait_until(lambda: all(request("GET", be.base_url + "/api/stats/real-time")[0] == 200 for _ in range(10)),
               10, message="faults cleared in every worker")


def test_inputs_that_once_gave_500_get_422(backend_factory, pg_database):
    pg = backend_factory(env={"DATABASE_URL": pg_database})
    assert request("POST", pg.base_url + "/api/workflows", {"name": "a\u0000b"})[0] == 422
    assert request("GET", pg.base_url + "/api/workflows/a%00b")[0] == 422
    sqlite = backend_factory()
    status = request("POST", sqlite.base_url + "/api/workflows",
                     {"name": "x", "project_id": 36893488147419103233})[0]
    assert status == 422


def test_blocks_survive_cache_pressure(tmp_path):
    """In-process (no server): without Redis the LLM cache is an LRU of its own, so filling it evicts no block."""
    sys.path.insert(0, str(REPO / "backend"))
    from app.main import build_services
    from app.settings import Settings

    svc = build_services(Settings(database_url=f"sqlite:///{tmp_path}/vigil.db"))
    svc.guard.store.set("block:ip:192.0.2.1", "1", 3600)
    for i in range(30_000):  # three times the cache's bound
        svc.cache.set(f"llmcache:{i}", "{}", 3600)
    assert svc.guard.blocked_for("ip:192.0.2.1") > 0
    assert svc.cache.get("llmcache:0") is None  # the cache itself did evict


PREFLIGHT = [sys.executable, str(REPO / "backend" / "app" / "preflight.py"), "--defaults", str(REPO / ".env.example")]
# Strong and distinct, as `make secrets` writes them (43 url-safe characters); the URLs are addresses.
GOOD = {name: f"{name.lower()[:6]}-Vq3xL9-wT2mR8pZ-{i:02d}-kN7dF4sH1jY6cB0" for i, name in enumerate((
    "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "GRAFANA_DB_PASSWORD", "EXPORTER_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
    "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_DB_PASSWORD", "ADMIN_TOKEN", "API_KEYS",
    "REDIS_PASSWORD"))} | {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/abc",
                           "HEARTBEAT_URL": "https://hc-ping.example.com/7d1e",
                           "ESCALATION_WEBHOOK_URL": "https://oncall.example.com/alertmanager/3c9b"}


def _preflight(tmp_path, lines: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / ".env"
    path.write_bytes("".join(lines).encode())
    clean = {k: v for k, v in __import__("os").environ.items() if k not in GOOD}
    return subprocess.run(PREFLIGHT + ["--env-file", str(path)], capture_output=True, text=True,
                          env={**clean, **(env or {})})


def test_production_secrets_cannot_be_development_values(tmp_path):
    good = [f"{k}={v}\n" for k, v in GOOD.items()]
    assert _preflight(tmp_path, good).returncode == 0
    for bypass in ('POSTGRES_PASSWORD="postgres"\n', "POSTGRES_PASSWORD='postgres'\n",
                   "POSTGRES_PASSWORD=postgres # changed, honest\n", "POSTGRES_PASSWORD=postgres\r\n",
                   "export POSTGRES_PASSWORD=postgres\n", "APP_DB_PASSWORD=postgres\n", "ADMIN_TOKEN=\n"):
        result = _preflight(tmp_path, good + [bypass])
        name = bypass.split("=")[0].removeprefix("export ")
        assert result.returncode == 1 and name in result.stderr, (bypass, result.stderr)
    crlf = [line.replace("\n", "\r\n") for line in good + ["GRAFANA_ADMIN_PASSWORD=admin\n"]]
    assert "GRAFANA_ADMIN_PASSWORD" in _preflight(tmp_path, crlf).stderr
    # The environment wins over .env in Compose: `POSTGRES_PASSWORD=postgres make prod-up`.
    result = _preflight(tmp_path, good, env={"POSTGRES_PASSWORD": "postgres"})
    assert result.returncode == 1 and "POSTGRES_PASSWORD" in result.stderr


def test_preflight_refuses_weak_and_reused_secrets_in_one_sentence_each(tmp_path):
    """Short, predictable and shared values: each refused with one sentence naming the variable, never the
    value; `make secrets`' values (secrets.token_urlsafe(32)) pass."""
    good = [f"{k}={v}\n" for k, v in GOOD.items()]
    cases = {"POSTGRES_PASSWORD=p\n": "POSTGRES_PASSWORD is shorter than 16 characters",
             "REDIS_PASSWORD=aaaaaaaaaaaaaaaaaaaaaaaa\n": "REDIS_PASSWORD is too predictable",
             "APP_DB_PASSWORD=passwordpassword\n": "APP_DB_PASSWORD is too predictable",
             f"API_KEYS={GOOD['API_KEYS']},short\n": "API_KEYS has a key that is shorter than 16",
             f"ADMIN_TOKEN={GOOD['API_KEYS']}\n": "ADMIN_TOKEN and API_KEYS have the same value",
             f"GRAFANA_DB_PASSWORD={GOOD['EXPORTER_DB_PASSWORD']}\n":
                 "GRAFANA_DB_PASSWORD and EXPORTER_DB_PASSWORD have the same value"}
    refused = 0
    for line, sentence in cases.items():
        result = _preflight(tmp_path, good + [line])
        lines = result.stderr.strip().splitlines()
        value = line.split("=", 1)[1].strip()
        assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith(sentence), (line, result.stderr)
        assert value.split(",")[0] not in result.stderr
        refused += 1
    generated = {k: secrets.token_urlsafe(32) if "URL" not in k else v for k, v in GOOD.items()}
    result = _preflight(tmp_path, [f"{k}={v}\n" for k, v in generated.items()])
    print(f"preflight: {refused}/{len(cases)} weak or reused secrets refused, one sentence each; "
          f"make-secrets-style values: exit {result.returncode}")
    assert result.returncode == 0, result.stderr


def test_backend_refuses_to_start_in_production_with_development_secrets(backend_factory, pg_database):
    be = backend_factory(env={"ENVIRONMENT": "production", "ADMIN_TOKEN": "", "API_KEYS": "",
                              "DATABASE_URL": pg_database.replace("postgres@", "postgres:postgres@")}, wait=False)
    wait_until(lambda: not be.alive(), 30, message="backend to refuse to start")
    log = be.log()
    assert be.popen.returncode != 0 and "refusing to start in production" in log
    assert "ADMIN_TOKEN is empty" in log and "API_KEYS is empty" in log and "DATABASE_URL password" in log
    ok = backend_factory(env={"ENVIRONMENT": "production", "ADMIN_TOKEN": GOOD["ADMIN_TOKEN"],
                              "API_KEYS": GOOD["API_KEYS"]})
    assert request("GET", ok.base_url + "/health")[0] == 200
