"""The prod overlay (docker-compose.prod.yml) on a real Docker engine: secrets required and set, ports on
127.0.0.1 only, read-only containers running, the backend drained inside its stop grace period.

Real programs: dockerd, Compose v2, the stand-in images and the backend image (gunicorn with several workers).
"""
from __future__ import annotations

import re
import secrets
import threading
import time
import urllib.request

import pytest

from harness import REPO

from .stack import EXCLUDE, PORT_VARS, PROD, Stack, env_file, free_ports, published_bindings, service_of

SECRET_VARS = ["POSTGRES_PASSWORD", "APP_DB_PASSWORD", "GRAFANA_DB_PASSWORD", "EXPORTER_DB_PASSWORD",
               "GRAFANA_ADMIN_PASSWORD", "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_DB_PASSWORD"]


@pytest.fixture(scope="module")
def prod_stack(engine, images, workdir):
    overrides = dict(zip(PORT_VARS, map(str, free_ports(len(PORT_VARS)))))
    # Real-looking secrets (with characters a URL or a shell would trip on), no development default.
    overrides.update({v: f"{secrets.token_urlsafe(12)}@:/'%" for v in SECRET_VARS})
    overrides["SLACK_WEBHOOK_URL"] = "http://alert-sink.invalid:9099/slack"
    stack = Stack(engine, env_file(workdir / "prod.env", overrides), PROD + EXCLUDE)
    # The dev stack shares the project name: it must be gone first.
    Stack(engine, workdir / "prod.env", ["-f", "docker-compose.yml"] + EXCLUDE).down()
    try:
        from .conftest import TIMINGS
        TIMINGS["prod up --wait, s"] = stack.up([])
        yield stack
    finally:
        stack.down()


def test_prod_starts_healthy_with_its_secrets_and_without_the_demo_services(prod_stack):
    states = {service_of(c): (c["State"]["Status"], (c["State"].get("Health") or {}).get("Status"))
              for c in prod_stack.containers()}
    assert "loadgen" not in states and "alert-sink" not in states
    assert all(s == ("running", "healthy") for s in states.values()), states
    env = prod_stack.env
    # The secrets travel as files only: no container's configuration holds one.
    for c in prod_stack.containers():
        leaked = [v for v in SECRET_VARS if any(env[v] in e for e in c["Config"]["Env"])]
        assert not leaked, (service_of(c), leaked)
    # The roles got the prod passwords through the secret files (scram over TCP).
    assert prod_stack.sql("SELECT 1", env["APP_DB_NAME"], user=env["GRAFANA_DB_USER"],
                          password=env["GRAFANA_DB_PASSWORD"]).stdout.strip() == "1"


def test_published_ports_bind_127_0_0_1_only(prod_stack):
    bindings = [(service_of(c), b) for c in prod_stack.containers() for b in published_bindings(c)]
    assert bindings and all(ip == "127.0.0.1" for _, (ip, _) in bindings), bindings


def test_read_only_containers_run_read_only(prod_stack):
    read_only = [service_of(c) for c in prod_stack.containers() if c["HostConfig"]["ReadonlyRootfs"]]
    assert {"redis", "prometheus", "node-exporter", "redis-exporter"} <= set(read_only), read_only
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
