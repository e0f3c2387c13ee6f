"""Real services for tests: PostgreSQL, Redis and the backend itself.

PostgreSQL and Redis come from local binaries (Debian's packages; .ci/run
installs them). Where they are missing but a Docker engine is present, the
same fixtures fall back to testcontainers.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Proc, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
BACKEND_DIR = REPO / "backend"


def venv_bin(name: str) -> str:
    """A console script of the interpreter running the tests (the project's .venv)."""
    return str(Path(sys.executable).with_name(name))


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


@dataclass
class Postgres:
    host: str
    port: int
    user: str = "postgres"
    password: str = ""
    _stop: object = field(default=None, repr=False)
    _start: object = field(default=None, repr=False)

    def url(self, db: str = "postgres", user: str | None = None, password: str | None = None,
            driver: str = "postgresql+psycopg2") -> str:
        user = user or self.user
        password = self.password if password is None else password
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"{driver}://{auth}{self.host}:{self.port}/{db}"

    def dsn(self, db: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        return self.url(db, user, password, driver="postgresql")

    def execute(self, sql: str, db: str = "postgres", params=None, fetch: bool = False):
        import psycopg2

        conn = psycopg2.connect(self.dsn(db))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if fetch else None
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self._stop()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the postmaster and its children (SIGSTOP freezes the cluster, SIGCONT thaws it).

        A child may exit between listing and signalling it: that one is skipped.
        """
        main = int(open(os.path.join(self.datadir, "data", "postmaster.pid")).readline())
        children = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True).stdout.split()
        for pid in [main, *map(int, children)]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def start(self) -> None:
        self._start()


def start_postgres() -> Postgres:
    """A throwaway cluster on a free port (pg_stat_statements preloaded), or a container."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb and _docker_available():
        from testcontainers.postgres import PostgresContainer  # optional, only with Docker

        c = PostgresContainer("postgres:17", command="postgres -c shared_preload_libraries=pg_stat_statements")
        c.start()
        return Postgres(c.get_container_host_ip(), int(c.get_exposed_port(5432)), c.username, c.password,
                        _stop=c.stop, _start=c.start)
    if not initdb:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install postgresql (or run a Docker engine)")
    # PostgreSQL refuses to run as root; CI runs as root, so use the postgres account there.
    user = "postgres" if os.geteuid() == 0 else None
    base = tempfile.mkdtemp(prefix="vigil-pg-")  # the run's temp folder (tests/conftest.py): postgres reaches it
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    if user:
        shutil.chown(base, user)
        shutil.chown(sock, user)
    run = (["runuser", "-u", user, "--"] if user else [])
    subprocess.run(run + [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = free_port()
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_preload_libraries=pg_stat_statements -c max_connections=100")
    logfile = os.path.join(base, "server.log")

    def start():
        subprocess.run(run + [pg_ctl, "-D", data, "-l", logfile, "-o", opts, "-w", "-t", "30", "start"],
                       check=True, capture_output=True)

    def stop():
        subprocess.run(run + [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)

    start()
    pg = Postgres("127.0.0.1", port, _stop=stop, _start=start)
    pg.datadir = base
    wait_until(lambda: pg.execute("SELECT 1") is None, 30, message="postgres accepting connections")
    return pg


def start_redis() -> tuple[Proc, str]:
    """A redis-server on a free port, no persistence. Returns (process, url)."""
    binary = shutil.which("redis-server")
    if not binary and _docker_available():
        from testcontainers.redis import RedisContainer  # optional, only with Docker

        c = RedisContainer("redis:8.8-alpine").start()
        return _ContainerProc(c), f"redis://{c.get_container_host_ip()}:{c.get_exposed_port(6379)}/0"
    if not binary:
        raise RuntimeError("redis-server not found: apt-get install redis-server (or run a Docker engine)")
    port = free_port()
    proc = Proc("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no"]).start()
    import redis

    client = redis.Redis(port=port)
    wait_until(lambda: client.ping(), 15, message="redis ping")
    return proc, f"redis://127.0.0.1:{port}/0"


class _ContainerProc:
    """The slice of Proc's interface the fixtures use, for a testcontainers container."""

    def __init__(self, container):
        self.container = container

    def stop(self):
        self.container.stop()


# Settings that keep the simulated providers fast and deterministic enough for tests.
TEST_BACKEND_ENV = {
    "LLM_LATENCY_SCALE": "0.01",
    "LLM_FAILURE_RATE": "0",
    "RATE_LIMIT_PER_MINUTE": "0",
    "LOG_LEVEL": "INFO",
}


def start_backend(env: dict | None = None, port: int | None = None, workers: int = 1,
                  wait: bool = True, server: str = "uvicorn", nofile: int | None = None,
                  host: str = "127.0.0.1") -> Proc:
    """The reference backend on a free port, as the image runs it: uvicorn (dev) or gunicorn (prod).

    ``proc.base_url`` is its address (over 127.0.0.1; ``host="::"`` with gunicorn listens on ::1 too). ``nofile``: its
    open-file limit (prlimit), e.g. Docker's usual 1024. FORWARDED_ALLOW_IPS is the image's default (empty)
    unless ``env`` sets it.
    """
    port = port or free_port()
    cleanup = []  # folders to remove once the process is stopped (backend_factory does it)
    full_env = {"FORWARDED_ALLOW_IPS": "", **TEST_BACKEND_ENV, **(env or {})}
    full_env.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='vigil-db-')}/vigil.db")
    if server == "gunicorn":
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        argv = [venv_bin("gunicorn"), "-c", "gunicorn.conf.py", "app.asgi:app", "--bind", bind,
                "--workers", str(workers)]
        if "PROMETHEUS_MULTIPROC_DIR" not in full_env:
            full_env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="vigil-multiproc-")
            cleanup.append(full_env["PROMETHEUS_MULTIPROC_DIR"])
    else:
        argv = [venv_bin("uvicorn"), "app.asgi:app", "--host", host, "--port", str(port),
                "--no-access-log", "--http", "h11", "--h11-max-incomplete-event-size", "16384"]
    if workers > 1 and server == "uvicorn":
        argv += ["--workers", str(workers)]
    if nofile:
        argv = ["prlimit", f"--nofile={nofile}:{nofile}", "--", *argv]  # prlimit execs: same pid
    proc = Proc("backend", argv, env=full_env, cwd=str(BACKEND_DIR)).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.port = port
    proc.cleanup_dirs = cleanup
    if wait:
        proc.wait_http(proc.base_url + "/health", timeout=30)
    return proc
