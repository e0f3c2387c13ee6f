"""The dev stack (docker-compose.yml) on a real Docker engine: health, scrape targets, an alert end to end,
the PostgreSQL roles, the secrets.

Real programs: dockerd, Compose v2, and in containers PostgreSQL 15, redis-server, Prometheus 3, Alertmanager
0.3x, node/postgres/redis exporters, Jaeger 2, the backend, loadgen and alert-sink images built from backend/Dockerfile.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from harness import REPO, http_get

from .stack import BACKEND_REPLICAS, INCLUDED, scrape_targets, service_of, wait_for

FAULT = {"http_error_rate": 0.5, "duration_seconds": 900}


def put_fault(stack) -> int:
    req = urllib.request.Request(stack.host_url("BACKEND_PORT", "/api/admin/faults"), method="PUT",
                                 data=json.dumps(FAULT).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:  # name the server that answered: the backend, or a port mix-up
        raise AssertionError(f"PUT {req.full_url}: {e.code} {e.read()[:300]!r} (Server: {e.headers.get('server')})")


@pytest.fixture(scope="module")
def faulted(dev_stack):
    """The fault is set as soon as the stack is up: the alert it raises needs minutes (the rule's `for: 2m`),
    which the other tests of this module use."""
    assert put_fault(dev_stack) == 200
    return time.monotonic()


def test_every_included_service_is_up_and_healthy(dev_stack, faulted):
    states = {service_of(c): (c["State"]["Status"], (c["State"].get("Health") or {}).get("Status"))
              for c in dev_stack.containers()}
    assert sorted(states) == sorted(INCLUDED)
    assert all(s == ("running", "healthy") for s in states.values()), states


def test_prometheus_scrapes_every_included_target_under_its_shipped_name(dev_stack, faulted):
    shipped = scrape_targets(REPO / "prometheus" / "prometheus.yml")
    # Jobs of included services ("localhost" is Prometheus itself); the excluded ones are down by design.
    expected = {job: targets for job, targets in shipped.items()
                if all(t.split(":")[0] in INCLUDED + ["localhost"] for t in targets)}
    assert set(expected) >= {"backend", "prometheus", "alertmanager", "node-exporter", "postgres-exporter",
                             "redis-exporter"}
    # A DNS-discovered job's instance is the address its name resolved to: the backend container's.
    backend_ip = next(iter(dev_stack.container("backend")["NetworkSettings"]["Networks"].values()))["IPAddress"]
    instances = {job: [f"{backend_ip}:{t.split(':')[1]}" if t.startswith("backend:") else t for t in targets]
                 for job, targets in expected.items()}

    def all_up():
        seen: dict[str, dict[str, str]] = {}
        for r in dev_stack.query("up"):
            seen.setdefault(r["metric"]["job"], {})[r["metric"]["instance"]] = r["value"][1]
        return all(seen.get(job) == dict.fromkeys(want, "1") for job, want in instances.items()) and seen
    seen = wait_for(all_up, 90, f"every included target up: {instances}")
    # The exporters really reach what they watch, over the service names.
    for metric in ["pg_up", "redis_up"]:
        assert [r["value"][1] for r in dev_stack.query(metric)] == ["1"], (metric, seen)
    assert dev_stack.query('node_uname_info{job="node-exporter"}')


def test_the_backends_traces_reach_jaeger(dev_stack, faulted):
    """The demo's traffic (loadgen, 10 % sampled) reaches Jaeger over the shipped OTLP path, and Jaeger's
    query API, published on JAEGER_PORT, finds the backend's traces."""
    def traces():
        code, body = http_get(dev_stack.host_url("JAEGER_PORT", "/api/traces?service=backend&limit=5&lookback=1h"))
        return code == 200 and json.loads(body)["data"]
    found = wait_for(traces, 120, "a trace of service backend in Jaeger")
    spans = [span for trace in found for span in trace["spans"]]
    assert any(span["operationName"].startswith(("GET ", "POST ")) for span in spans), spans[:3]


def test_init_scripts_create_the_roles_and_grafanas_reader_only_reads(dev_stack, faulted):
    env = dev_stack.env
    db = env["APP_DB_NAME"]
    # The backend created its tables as the app role (owner of the database) over the network.
    tables = dev_stack.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db,
                           user=env["APP_DB_USER"], password=env["APP_DB_PASSWORD"]).stdout.split()
    assert "workflows" in tables
    reader = dict(user=env["GRAFANA_DB_USER"], password=env["GRAFANA_DB_PASSWORD"])
    count = dev_stack.sql("SELECT count(*) FROM workflows", db, **reader).stdout.strip()
    assert int(count) >= 0
    for statement in ["INSERT INTO brands (name) VALUES ('x')", "DELETE FROM workflows",
                      "CREATE TABLE grafana_was_here (id int)"]:
        res = dev_stack.sql(statement, db, check=False, **reader)
        assert res.returncode != 0 and ("read-only" in res.stderr or "permission denied" in res.stderr), res
    exporter = dev_stack.sql("SELECT pg_has_role(current_user, 'pg_monitor', 'member')", db,
                             user=env["EXPORTER_DB_USER"], password=env["EXPORTER_DB_PASSWORD"])
    assert exporter.stdout.strip() == "True"
    # A wrong password is refused over the network (scram-sha-256, not trust).
    wrong = dev_stack.sql("SELECT 1", db, user=env["GRAFANA_DB_USER"], password="wrong", check=False)
    assert wrong.returncode and "password authentication failed" in wrong.stderr, wrong


def test_secrets_are_files_readable_by_the_non_root_users_that_need_them(dev_stack, faulted):
    env = dev_stack.env
    # service -> (secret, .env variable that fills it); each read as the container's own user.
    wanted = {"backend": [("app_db_password", "APP_DB_PASSWORD")],
              "alertmanager": [("slack_webhook_url", "SLACK_WEBHOOK_URL")],
              "postgres-exporter": [("exporter_db_password", "EXPORTER_DB_PASSWORD")]}
    for service, secrets in wanted.items():
        user = dev_stack.exec(service, "id", "-u").stdout.strip()
        assert user != "0", f"{service} runs as root"
        for secret, var in secrets:
            assert dev_stack.exec(service, "cat", f"/run/secrets/{secret}").stdout == env[var]
        # (The dev defaults equal the role names, so this looks for them as a value or in a URL; the prod
        # test, with random secrets, looks for them anywhere.)
        leaked = [e for e in dev_stack.container(service)["Config"]["Env"] for _, var in secrets
                  if (e.partition("=")[2] == env[var] and re.search("PASS|SECRET|WEBHOOK", e.partition("=")[0]))
                  or f":{env[var]}@" in e]
        assert not leaked, f"{service}: a secret is in the environment: {leaked}"
    # PostgreSQL's init scripts run as postgres (uid 70 in the Alpine image), after it dropped root.
    for secret, var in [("postgres_password", "POSTGRES_PASSWORD"), ("app_db_password", "APP_DB_PASSWORD"),
                        ("grafana_db_password", "GRAFANA_DB_PASSWORD"),
                        ("exporter_db_password", "EXPORTER_DB_PASSWORD")]:
        assert dev_stack.exec("postgres", "cat", f"/run/secrets/{secret}", user="postgres").stdout == env[var]
    assert dev_stack.exec("postgres", "sh", "-c", "ps -o user= -C postgres 2>/dev/null || stat -c %U /proc/1",
                          check=False).stdout.split()[0] == "postgres"


def test_a_fault_reaches_the_alert_sink_through_the_real_alertmanager(dev_stack, faulted):
    sink = dev_stack.host_url("ALERT_SINK_PORT", "/api/messages")

    def delivered():
        put_fault(dev_stack)  # the load generator sets short faults of its own, which replace ours
        code, body = http_get(sink)
        return code == 200 and [m for m in json.loads(body)["messages"] if "ErrorBudgetBurnFast" in json.dumps(m)]
    # `for: 2m` on the rule, 15 s rule evaluation, 10 s group_wait on the critical route.
    messages = wait_for(delivered, max(30, 330 - (time.monotonic() - faulted)), "the alert in the sink", 10)
    # It went through Alertmanager: Alertmanager's API holds the firing alert and its receiver.
    code, body = http_get(dev_stack.host_url("ALERTMANAGER_PORT", "/api/v2/alerts?filter=alertname%3D"
                                             "%22ErrorBudgetBurnFast%22"))
    alerts = json.loads(body)
    assert code == 200 and alerts and alerts[0]["receivers"][0]["name"] == "critical", alerts
    assert messages[0]["path"] == "/slack", messages[0]  # SLACK_WEBHOOK_URL of .env.example


def test_scaled_backends_are_each_published_found_by_dns_and_scraped(dev_stack, faulted):
    """`docker compose up --scale backend=3`, as docs/scaling.md says: each replica gets a host port of the
    BACKEND_PORT..BACKEND_PORT_LAST range, and Prometheus finds every one through Docker's DNS."""
    dev_stack.compose("up", "-d", "--no-recreate", "--wait", "--scale", f"backend={BACKEND_REPLICAS}", "backend")
    try:
        backends = [c for c in dev_stack.containers() if service_of(c) == "backend"]
        assert len(backends) == BACKEND_REPLICAS
        ips = {net["IPAddress"] for c in backends for net in c["NetworkSettings"]["Networks"].values()}
        published = sorted(int(b["HostPort"]) for c in backends for b in c["NetworkSettings"]["Ports"]["8000/tcp"])
        first, last = int(dev_stack.env["BACKEND_PORT"]), int(dev_stack.env["BACKEND_PORT_LAST"])
        assert len(set(published)) == BACKEND_REPLICAS and first <= published[0] and published[-1] <= last, published
        for port in published:  # each replica answers on its own host port
            assert http_get(f"http://127.0.0.1:{port}/health")[0] == 200, port

        def scraped():  # dns_sd refreshes every 15 s; each replica is its own instance
            return {r["metric"]["instance"] for r in dev_stack.query('up{job="backend"} == 1')}
        wait_for(lambda: scraped() == {f"{ip}:8000" for ip in ips}, 90, f"every replica scraped: {ips}")
        wait_for(lambda: len(dev_stack.query('app_build_info{job="backend"}')) == BACKEND_REPLICAS, 30,
                 "every replica's series")
    finally:  # back to one replica for the tests that share this stack
        dev_stack.compose("up", "-d", "--no-recreate", "--wait", "--scale", "backend=1", "backend")
