"""Shared fixtures: real PostgreSQL and Redis for the session, a backend per test.

Strict mode (CI=true or VIGIL_STRICT=1): a skipped test fails the run, since a
skipped integration test proves nothing.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness import running_procs, start_backend, start_postgres, start_redis  # pytest.ini: pythonpath

STRICT = os.environ.get("CI", "").lower() == "true" or os.environ.get("VIGIL_STRICT") == "1"

# Every temporary file and folder of the run (process logs, Prometheus, Alertmanager and PostgreSQL
# data, pytest's tmp_path, what the started programs write to $TMPDIR) goes into one folder, removed
# when the run ends: nothing is left behind in /tmp, whatever a test forgot.
RUN_TMP = tempfile.mkdtemp(prefix="vigil-run-")
os.chmod(RUN_TMP, 0o755)  # the postgres account (harness/services.py) must reach its cluster in here
tempfile.tempdir = RUN_TMP
os.environ["TMPDIR"] = RUN_TMP


def pytest_unconfigure(config):
    for proc in running_procs():
        proc.stop()
    shutil.rmtree(RUN_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    pg = start_postgres()
    yield pg
    pg.stop()
    shutil.rmtree(pg.datadir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    proc, url = start_redis()
    yield url
    proc.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's redis-server, emptied: no rate-limit window, block or cache entry leaks between tests."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture
def pg_database(postgres, request):
    """A fresh database in the shared cluster; returns its SQLAlchemy URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return postgres.create_database(name)


@pytest.fixture
def backend_factory():
    """Start backends with given env; all are stopped after the test."""
    started = []

    def start(**kwargs):
        proc = start_backend(**kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
        for folder in getattr(proc, "cleanup_dirs", ()):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def backend(backend_factory):
    return backend_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the log of every process the harness still runs."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for proc in running_procs():
            report.sections.append((f"log of {proc.name} (pid {proc.pid})", proc.log()[-6000:]))


def pytest_sessionfinish(session, exitstatus):
    if not STRICT:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"STRICT: {skipped} test(s) skipped; a skipped integration test fails CI.", red=True)
        session.exitstatus = 1
