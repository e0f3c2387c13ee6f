"""One live stack for the Grafana tests of this folder (started once, on first use).

Real programs: a PostgreSQL 15 cluster prepared by postgres/init/10-roles.sh, redis-server,
the backend (uvicorn, PostgreSQL + Redis), Prometheus 3.13 (make tools) with the shipped prometheus.yml
(targets rewritten) and rules, Alertmanager, node/postgres/redis exporters, the project's
load generator (python -m loadgen) and a burst of abusive requests.
"""
from __future__ import annotations

import os
import sys
import time
import shutil
import subprocess
import tempfile
from pathlib import Path
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from harness import BACKEND_DIR, REPO, Proc, free_port, start_backend, start_postgres, start_redis
from app.settings import Settings
from compose.stack import DEV, model
from harness.monitoring import (binary, rewrite_targets, start_alertmanager, start_node_exporter,
                                start_postgres_exporter, start_redis_exporter, wait_for_targets_up)

ROLES_SCRIPT = REPO / "postgres" / "init" / "10-roles.sh"
APP = {"APP_DB_NAME": "vigil", "APP_DB_USER": "vigil", "APP_DB_PASSWORD": "app-pw",
       "GRAFANA_DB_USER": "grafana_reader", "EXPORTER_DB_USER": "postgres_exporter",
       "EXPORTER_DB_PASSWORD": "exporter-pw"}
# The backend's Compose environment entries that are addresses inside the Compose network.
ADDRESSES = {"DATABASE_URL", "DATABASE_PASSWORD_FILE", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"}
# Minimal Alertmanager config: the dashboards only need Alertmanager's own metrics.
ALERTMANAGER_CONFIG = "route:\n  receiver: none\nreceivers:\n  - name: none\n"


# Lines the live tests want in pytest's output (e.g. "N of N panels returned data"), printed
# in the terminal summary because output during a test is captured.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("Grafana dashboards")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def run_roles_script(pg, env: dict) -> subprocess.CompletedProcess:
    """Run the init script as the official image would: POSTGRES_USER/POSTGRES_DB, psql on PATH."""
    full = {**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "postgres", **env}
    return subprocess.run(["bash", str(ROLES_SCRIPT)], env=full, capture_output=True, text=True, timeout=60)


def start_prometheus_with_port(config_text: str, port: int, rule_files: dict[str, str]) -> Proc:
    """Like harness.monitoring.start_prometheus, on a port chosen beforehand (the shipped
    config scrapes Prometheus itself at localhost:9090, rewritten to this port)."""
    workdir = Path(tempfile.mkdtemp(prefix="vigil-grafana-prom-"))
    (workdir / "prometheus.yml").write_text(config_text)
    for rel, text in rule_files.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text)
    argv = [binary("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage"]
    proc = Proc("prometheus", argv, cwd=str(workdir)).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.workdir = workdir
    proc.wait_http(proc.base_url + "/-/ready", timeout=30)
    return proc


def require_passwords(pg) -> None:
    """From now on every role but the superuser must log in with its password (SCRAM),
    so the tests prove the passwords the script set, the *_FILE variant included."""
    hba = Path(pg.datadir) / "data" / "pg_hba.conf"
    hba.write_text("local all all trust\n"
                   "host all postgres 127.0.0.1/32 trust\n"
                   "host all all 127.0.0.1/32 scram-sha-256\n")
    pg.execute("SELECT pg_reload_conf()")


@contextmanager
def fresh_db():
    """A fresh cluster with the roles script applied; yields (Postgres, script env)."""
    pg = start_postgres()
    secret_dir = Path(tempfile.mkdtemp(prefix="vigil-secret-"))
    try:
        (secret_dir / "grafana_db_password").write_text("reader-pw\n")  # _FILE variant, trailing newline
        env = {**APP, "GRAFANA_DB_PASSWORD_FILE": str(secret_dir / "grafana_db_password")}
        result = run_roles_script(pg, env)
        assert result.returncode == 0, result.stderr
        require_passwords(pg)
        yield SimpleNamespace(pg=pg, env=env, script_output=result, reader_password="reader-pw")
    finally:
        pg.stop()
        shutil.rmtree(pg.datadir, ignore_errors=True)
        shutil.rmtree(secret_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def vigil_db():
    with fresh_db() as db:
        yield db


def default_demo() -> tuple[dict, dict, list[str]]:
    """(backend environment, load generator environment, load generator arguments) of `make up`."""
    services = model(DEV, REPO / ".env.example")["services"]
    backend = {k: v for k, v in services["backend"]["environment"].items() if k not in ADDRESSES}
    # The harness's test defaults (instant LLM calls, no rate limit) give way to the backend's own.
    for name in ("LLM_LATENCY_SCALE", "RATE_LIMIT_PER_MINUTE", "LLM_FAILURE_RATE"):
        backend.setdefault(name, str(Settings.model_fields[name.lower()].default))
    command = services["loadgen"]["command"]
    assert command[:3] == ["python", "-m", "loadgen"], command
    return backend, services["loadgen"].get("environment", {}), command[3:]


@pytest.fixture(scope="package")
def stack(vigil_db):
    with live_stack(vigil_db) as running:
        yield running


@contextmanager
def live_stack(vigil_db):
    """The default demo on real processes (also scripts/previews.py's data source)."""
    pg = vigil_db.pg
    procs = []
    try:
        redis_proc, redis_url = start_redis()
        procs.append(redis_proc)
        backend_env, loadgen_env, loadgen_args = default_demo()
        backend = start_backend(env={
            **backend_env, "DATABASE_URL": pg.url("vigil", APP["APP_DB_USER"], APP["APP_DB_PASSWORD"]),
            "REDIS_URL": redis_url})
        procs.append(backend)
        args = [backend.base_url if a == "http://backend:8000" else a for a in loadgen_args]
        assert backend.base_url in args, loadgen_args
        loadgen = Proc("loadgen", [sys.executable, "-m", "loadgen", *args],
                       env=loadgen_env, cwd=str(BACKEND_DIR)).start()
        loadgen.started_at = time.monotonic()
        procs.append(loadgen)

        # Each one is in `procs` as soon as it runs, so a later failure still stops it.
        procs.append(node := start_node_exporter())
        procs.append(pg_exp := start_postgres_exporter(
            pg.dsn("vigil", APP["EXPORTER_DB_USER"], APP["EXPORTER_DB_PASSWORD"]) + "?sslmode=disable"))
        procs.append(redis_exp := start_redis_exporter(redis_url))
        procs.append(am := start_alertmanager(ALERTMANAGER_CONFIG))

        prom_port = free_port()
        config = rewrite_targets((REPO / "prometheus" / "prometheus.yml").read_text(), {
            "backend:8000": backend.base_url.removeprefix("http://"),
            "localhost:9090": f"127.0.0.1:{prom_port}",
            "alertmanager:9093": am.base_url.removeprefix("http://"),
            "node-exporter:9100": node.address, "postgres-exporter:9187": pg_exp.address,
            "redis-exporter:9121": redis_exp.address})
        rules = {str(p.relative_to(REPO / "prometheus")): p.read_text()
                 for p in sorted((REPO / "prometheus" / "rules").glob("*/*.yml"))}
        prom = start_prometheus_with_port(config, prom_port, rules)
        procs.append(prom)
        wait_for_targets_up(prom, {"backend", "prometheus", "alertmanager", "node-exporter",
                                   "postgres-exporter", "redis-exporter"})
        yield SimpleNamespace(prom=prom, backend=backend, loadgen=loadgen, pg=pg, db=vigil_db)
    finally:
        for proc in reversed(procs):
            proc.stop()
