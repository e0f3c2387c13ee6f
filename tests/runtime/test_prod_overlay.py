"""The prod overlay (docker-compose.prod.yml) on a real Docker engine: secrets required and set, the preflight
job completed before anything else started, Redis behind its ACL password, capabilities dropped, ports on
127.0.0.1 only, read-only containers running, the backend drained inside its stop grace period.

Real programs: dockerd, Compose v2, the stand-in images and the backend image (gunicorn with several workers).
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.request

import pytest

from compose.stack import PROD_REQUIRED
from harness import REPO, http_get

from .stack import (EXCLUDE, INCLUDED, PROD, PROD_EXCLUDE, Stack, env_file, host_ports, published_bindings,
                    service_of, wait_for)

URLS = {"SLACK_WEBHOOK_URL": "http://alert-sink.invalid:9099/slack",
        "HEARTBEAT_URL": "http://alert-sink.invalid:9099/heartbeat",
        "ESCALATION_WEBHOOK_URL": "http://alert-sink.invalid:9099/escalation"}
# Every secret prod requires (docker-compose.prod.yml x-required-secrets) but the three URLs above.
SECRET_VARS = [name for name in PROD_REQUIRED if name not in URLS]
# The prod services of this suite: the dev file's included ones without the demo services, and the job.
PROD_SERVICES = sorted({*INCLUDED, "preflight"} - {"loadgen", "alert-sink"})


def prod_env(workdir, name: str, **extra: str):
    overrides = host_ports()
    # Real-looking secrets (with characters a URL or a shell would trip on), no development default.
    overrides.update({v: f"{secrets.token_urlsafe(12)}@:/'%" for v in SECRET_VARS})
    overrides.update(URLS, **extra)
    return env_file(workdir / name, overrides)


def clean_project(engine, env_path) -> None:
    """The dev stack and the other prod runs share the project name: they must be gone first."""
    Stack(engine, env_path, ["-f", "docker-compose.yml"] + EXCLUDE).down()


@pytest.fixture(scope="module")
def prod_stack(engine, images, workdir):
    stack = Stack(engine, prod_env(workdir, "prod.env"), PROD + PROD_EXCLUDE)
    clean_project(engine, stack.env_path)
    try:
        from .conftest import TIMINGS
        TIMINGS["prod up --wait, s"] = stack.up([])
        yield stack
    finally:
        stack.down()


def test_prod_starts_healthy_with_its_secrets_and_without_the_demo_services(prod_stack):
    states = {service_of(c): (c["State"]["Status"], (c["State"].get("Health") or {}).get("Status"))
              for c in prod_stack.containers()}
    assert sorted(states) == PROD_SERVICES, states
    assert all(s == ("running", "healthy") for name, s in states.items() if name != "preflight"), states
    env = prod_stack.env
    # The secrets travel as files only: no container's configuration holds one.
    for c in prod_stack.containers():
        leaked = [v for v in SECRET_VARS if any(env[v] in e for e in c["Config"]["Env"])]
        assert not leaked, (service_of(c), leaked)
    # The roles got the prod passwords through the secret files (scram over TCP).
    assert prod_stack.sql("SELECT 1", env["APP_DB_NAME"], user=env["GRAFANA_DB_USER"],
                          password=env["GRAFANA_DB_PASSWORD"]).stdout.strip() == "1"


def test_the_preflight_job_completed_before_any_service_started(prod_stack):
    job = prod_stack.container("preflight")["State"]
    assert job["Status"] == "exited" and job["ExitCode"] == 0, job
    started = {service_of(c): c["State"]["StartedAt"] for c in prod_stack.containers()
               if service_of(c) != "preflight"}
    assert all(instant(t) > instant(job["FinishedAt"]) for t in started.values()), (job["FinishedAt"], started)


def instant(rfc3339: str) -> tuple[str, int]:
    """Docker's UTC timestamps ("...T08:55:54.83014757Z", trailing zeros trimmed) in a comparable form."""
    seconds, _, fraction = rfc3339.rstrip("Z").partition(".")
    return seconds, int(fraction.ljust(9, "0"))


def test_redis_requires_the_backends_password_and_the_backend_uses_it(prod_stack):
    password = prod_stack.env["REDIS_PASSWORD"]
    # The password-less default user (healthcheck, redis_exporter) reads statistics, never a key.
    denied = prod_stack.exec("redis", "redis-cli", "GET", "any-key", check=False)
    assert "NOPERM" in denied.stdout + denied.stderr, denied
    as_backend = ["redis-cli", "--no-auth-warning", "--user", "backend", "--pass", password]
    wrong = prod_stack.exec("redis", "redis-cli", "--no-auth-warning", "--user", "backend", "--pass", "wrong",
                            "PING", check=False)
    assert "WRONGPASS" in wrong.stdout + wrong.stderr, wrong
    assert prod_stack.exec("redis", *as_backend, "SET", "vigil-probe", "1", "EX", "60").stdout.strip() == "OK"
    assert password not in " ".join(prod_stack.container("redis")["Config"]["Env"])
    # The backend (REDIS_URL + REDIS_PASSWORD_FILE) is ready only when its Redis store answers it.
    code, body = http_get(prod_stack.host_url("BACKEND_PORT", "/ready"))
    assert code == 200, body

    def backend_connected():
        clients = prod_stack.exec("redis", *as_backend, "CLIENT", "LIST").stdout.splitlines()
        return [c for c in clients if " user=backend " in c and "cmd=client|list" not in c]
    wait_for(backend_connected, 30, "a connection of the backend as Redis user `backend`")


def test_capabilities_are_dropped_and_no_new_privileges(prod_stack):
    config = json.loads(prod_stack.compose("config", "--format", "json").stdout)["services"]
    no_caps = [s for s in PROD_SERVICES if "ALL" in (config[s].get("cap_drop") or [])]
    assert {"backend", "prometheus", "alertmanager", "node-exporter", "postgres-exporter",
            "redis-exporter"} <= set(no_caps), no_caps
    for c in prod_stack.containers():
        service = service_of(c)
        assert "no-new-privileges:true" in (c["HostConfig"]["SecurityOpt"] or []), service
        if service == "preflight":
            continue
        # The main process: PID 1, or its host PID in a container sharing the host's (node-exporter).
        pid = c["State"]["Pid"] if c["HostConfig"]["PidMode"] == "host" else 1
        status = dict(ln.split(":\t", 1) for ln in
                      prod_stack.exec(service, "cat", f"/proc/{pid}/status").stdout.splitlines() if ":\t" in ln)
        assert status["NoNewPrivs"].strip() == "1", (service, status)
        if service in no_caps:
            # The main process holds no capability and can never gain one (empty bounding set).
            assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, (service, status)


def test_published_ports_bind_127_0_0_1_only(prod_stack):
    bindings = [(service_of(c), b) for c in prod_stack.containers() for b in published_bindings(c)]
    assert bindings and all(ip == "127.0.0.1" for _, (ip, _) in bindings), bindings


def test_read_only_containers_run_read_only(prod_stack):
    # Every service the overlay makes read-only (Redis no longer is: its secret file needs a writable root).
    config = json.loads(prod_stack.compose("config", "--format", "json").stdout)["services"]
    wanted = {s for s in PROD_SERVICES if config[s].get("read_only")}
    read_only = [service_of(c) for c in prod_stack.containers() if c["HostConfig"]["ReadonlyRootfs"]]
    assert {"prometheus", "node-exporter", "redis-exporter"} <= wanted == set(read_only), (wanted, read_only)
    for service in read_only:
        state = prod_stack.container(service)["State"]
        assert state["Status"] == "running" and state["Health"]["Status"] == "healthy", (service, state)
    res = prod_stack.exec("prometheus", "sh", "-c", "echo x > /etc/vigil-probe", check=False)
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res


def test_backend_drains_in_flight_requests_inside_its_stop_grace_period(prod_stack):
    backend = prod_stack.container("backend")
    grace = backend["Config"].get("StopTimeout") or 10  # Docker's default when Compose sets none
    graceful = re.search(r"^graceful_timeout = (\d+)", (REPO / "backend" / "gunicorn.conf.py").read_text(), re.M)
    assert grace > int(graceful.group(1)), "Docker would SIGKILL gunicorn before its own graceful timeout"
    url = prod_stack.host_url("BACKEND_PORT", "/api/stats/real-time")
    results: list = []

    def hammer():
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    results.append(r.status)
            except Exception as exc:  # after the stop, connections are refused: that is expected
                results.append(type(exc).__name__)
                break
    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(1)  # requests in flight when the stop arrives
    t0 = time.monotonic()
    prod_stack.compose("stop", "-t", str(grace), "backend")
    took = time.monotonic() - t0
    for w in workers:
        w.join(15)
    state = prod_stack.container("backend")["State"]
    # Exit 0 inside the grace period: gunicorn finished its workers; a SIGKILL would give 137.
    assert state["ExitCode"] == 0 and took < grace, (state, took, grace)
    assert 200 in results and not [r for r in results if isinstance(r, int) and r >= 500], results
