"""A Vigil database filled by the real backend, shared by the Superset tests of this folder.

Real programs: a PostgreSQL 15 cluster (pg_stat_statements preloaded) prepared by
postgres/init/10-roles.sh as the official image runs it, redis-server, the backend (uvicorn, as the
app role) and the project's load generator (python -m loadgen) with provider faults, so failures,
recoveries, reviewed assets and router decisions exist.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import pytest

from harness import BACKEND_DIR, REPO, Proc, start_backend, start_postgres, start_redis

sys.path.insert(0, str(REPO / "superset"))
from dashboards import DASHBOARDS  # noqa: E402

APP = {"APP_DB_NAME": "vigil", "APP_DB_USER": "vigil", "APP_DB_PASSWORD": "app-pw",
       "GRAFANA_DB_USER": "grafana_reader", "GRAFANA_DB_PASSWORD": "reader-pw",
       "EXPORTER_DB_USER": "postgres_exporter", "EXPORTER_DB_PASSWORD": "exporter-pw"}
CHARTS = [(d, c) for d in DASHBOARDS for c in d.charts]


@pytest.fixture(scope="package")
def vigil_db():
    pg = start_postgres()
    procs = []
    try:
        env = {**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "POSTGRES_USER": "postgres",
               "POSTGRES_DB": "postgres", **APP}
        roles = subprocess.run(["bash", str(REPO / "postgres" / "init" / "10-roles.sh")], env=env,
                               capture_output=True, text=True, timeout=60)
        assert roles.returncode == 0, roles.stderr
        redis_proc, redis_url = start_redis()
        procs.append(redis_proc)
        backend = start_backend(env={
            "DATABASE_URL": pg.url("vigil", APP["APP_DB_USER"], APP["APP_DB_PASSWORD"]), "REDIS_URL": redis_url,
            "LLM_FAILURE_RATE": "0.15", "BREAKER_RESET_SECONDS": "2"})
        procs.append(backend)
        # Bounded traffic: the queries wait for the rows they need (see test_live_sql.py).
        procs.append(Proc("loadgen", [sys.executable, "-m", "loadgen", "--base-url", backend.base_url,
                                      "--duration", "60", "--rps", "10", "--fault-every", "6", "--seed", "8"],
                          cwd=str(BACKEND_DIR)).start())

        def reader():
            return psycopg2.connect(host=pg.host, port=pg.port, dbname="vigil", user=APP["GRAFANA_DB_USER"],
                                    password=APP["GRAFANA_DB_PASSWORD"])
        yield SimpleNamespace(pg=pg, backend=backend, reader=reader,
                              reader_uri=f"postgresql+psycopg2://{APP['GRAFANA_DB_USER']}@{pg.host}:{pg.port}/vigil")
    finally:
        for proc in reversed(procs):
            proc.stop()
        pg.stop()
        shutil.rmtree(pg.datadir, ignore_errors=True)
