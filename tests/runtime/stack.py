"""The shipped Compose files run by the real Compose v2 binary (as the `docker compose` plugin) on the private engine.

Grafana, Loki, Alloy and Jaeger have no image that can be built here: compose.exclude.yml, added after the
shipped files, puts them in a profile that is never enabled (Superset already is, profile `bi`), so `up`,
`make backup` and `make restore` run every other service exactly as shipped.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from harness import REPO, http_get, wait_until
from harness.docker_engine import DockerEngine

# Every service of the dev file except those without a locally buildable image (and profile bi): the
# expected result of `up`, which compose.exclude.yml decides.
INCLUDED = ["postgres", "redis", "prometheus", "alertmanager", "node-exporter", "postgres-exporter",
            "redis-exporter", "jaeger", "otel-collector", "backend", "loadgen", "alert-sink"]
DEV = ["-f", "docker-compose.yml"]
PROD = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"]
EXCLUDE = ["-f", str(Path(__file__).with_name("compose.exclude.yml"))]
# The prod overlay's own service without a buildable image (docker-socket-proxy), left out the same way.
PROD_EXCLUDE = EXCLUDE + ["-f", str(Path(__file__).with_name("compose.exclude.prod.yml"))]
PORT_VARS = ["GRAFANA_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "JAEGER_PORT", "OTLP_GRPC_PORT",
             "OTLP_HTTP_PORT", "BACKEND_PORT", "ALERT_SINK_PORT", "SUPERSET_PORT"]


def free_ports(n: int, held: list[socket.socket]) -> list[int]:
    """``n`` ports free on 127.0.0.1 now. Their sockets go to ``held`` (closed by the caller) so that the
    ports of one call and the next never overlap."""
    socks = [socket.socket() for _ in range(n)]
    held += socks
    for s in socks:
        s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in socks]


def free_range(n: int, held: list[socket.socket], attempts: int = 50) -> int:
    """The first of ``n`` consecutive free ports (their sockets go to ``held``)."""
    for _ in range(attempts):
        first = free_ports(1, held)[0]
        socks = []
        try:
            for port in range(first + 1, first + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            held += socks
            return first
        except OSError:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {n} consecutive free ports")


BACKEND_REPLICAS = 3  # the scale-out test's `--scale backend=3`


def host_ports() -> dict[str, str]:
    """Free host ports for every published port, none shared. The backend publishes a range,
    BACKEND_PORT..BACKEND_PORT_LAST: one port per replica of the scale-out test and two spare, because Docker
    moves a replica on to the range's next port when a program on the host took one meanwhile."""
    held: list[socket.socket] = []
    try:
        ports = dict(zip(PORT_VARS, map(str, free_ports(len(PORT_VARS), held))))
        first = free_range(BACKEND_REPLICAS + 2, held)
    finally:
        for sock in held:
            sock.close()
    ports["BACKEND_PORT"], ports["BACKEND_PORT_LAST"] = str(first), str(first + BACKEND_REPLICAS + 1)
    return ports


def env_file(path: Path, overrides: dict[str, str]) -> Path:
    """.env.example with the host ports moved to free ones (other programs on this machine hold the defaults)."""
    lines = [ln for ln in (REPO / ".env.example").read_text().splitlines()
             if ln.partition("=")[0] not in overrides]
    path.write_text("\n".join(lines + [f"{k}={v}" for k, v in overrides.items()]) + "\n")
    return path


class Stack:
    def __init__(self, engine: DockerEngine, env_path: Path, files: list[str]):
        self.engine = engine
        self.env_path = env_path
        self.files = files
        self.env = {k: v for k, v in (ln.split("=", 1) for ln in env_path.read_text().splitlines()
                                     if "=" in ln and not ln.startswith("#"))}

    @property
    def compose_cmd(self) -> str:
        """What `make backup`/`make restore` get as COMPOSE."""
        return f"docker compose --project-directory {REPO} --env-file {self.env_path} {' '.join(self.files)}"

    def compose(self, *args: str, check: bool = True, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
        return self.engine.docker("compose", "--project-directory", str(REPO), "--env-file", str(self.env_path),
                                  *self.files, *args, check=check, timeout=timeout, cwd=REPO, **kw)

    def up(self, services: list[str], timeout: int = 300) -> float:
        t0 = time.monotonic()
        res = self.compose("up", "-d", "--wait", "--no-build", "--wait-timeout", str(timeout), *services, check=False,
                           timeout=timeout + 60)
        if res.returncode != 0:
            raise AssertionError(f"up --wait failed:\n{res.stderr[-3000:]}\n{self.diagnose()}")
        return time.monotonic() - t0

    def diagnose(self) -> str:
        """State, health log and last log lines of every container: what a failed `up --wait` needs."""
        out = []
        for c in self.containers():
            state = c["State"]
            health = state.get("Health") or {}
            out.append(f"--- {c['Config']['Labels'].get('com.docker.compose.service')}: {state['Status']} "
                       f"exit={state['ExitCode']} health={health.get('Status')}")
            out += [h["Output"].strip()[-300:] for h in health.get("Log", [])[-2:]]
            logs = self.engine.docker("logs", "--tail", "15", c["Id"], check=False)
            out.append((logs.stdout + logs.stderr)[-1500:])
        return "\n".join(out)

    def containers(self) -> list[dict]:
        ids = self.compose("ps", "-aq").stdout.split()
        return [json.loads(self.engine.docker("inspect", i).stdout)[0] for i in ids]

    def container(self, service: str) -> dict:
        cid = self.compose("ps", "-aq", service).stdout.strip()
        assert cid, f"no container for {service}"
        return self.engine.inspect(cid)

    def exec(self, service: str, *cmd: str, user: str | None = None, input: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
        args = ["exec", "-T"] + (["--user", user] if user else []) + [service, *cmd]
        return self.compose(*args, check=check, input=input, timeout=120)

    def host_url(self, port_var: str, path: str = "") -> str:
        """A published port's URL. The backend's is the port Docker gave its (first) container, one of
        BACKEND_PORT..BACKEND_PORT_LAST, not necessarily the first."""
        if port_var == "BACKEND_PORT":
            address = self.compose("port", "backend", "8000").stdout.strip()  # 127.0.0.1:<port>
            return f"http://{address}{path}"
        return f"http://127.0.0.1:{self.env[port_var]}{path}"

    def query(self, promql: str) -> list[dict]:
        """An instant query against the stack's Prometheus through its published port."""
        from urllib.parse import quote
        code, body = http_get(self.host_url("PROMETHEUS_PORT", f"/api/v1/query?query={quote(promql)}"))
        assert code == 200, body
        return json.loads(body)["data"]["result"]

    def sql(self, sql: str, db: str, user: str = "postgres", password: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """Rows as `a|b` lines. Without a password: psql as the superuser inside the postgres container.
        With one: from the backend container over the network with psycopg2, as the stack's clients connect
        (inside the postgres container 127.0.0.1 is trusted, as in the official image)."""
        if password is None:
            return self.exec("postgres", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db,
                             "-c", sql, check=check)
        client = ("import sys, psycopg2\n"
                  "c = psycopg2.connect(host='postgres', dbname=sys.argv[1], user=sys.argv[2],\n"
                  "                     password=sys.stdin.read())\n"
                  "c.autocommit = True\n"
                  "cur = c.cursor()\n"
                  "cur.execute(sys.argv[3])\n"
                  "print('\\n'.join('|'.join(map(str, r)) for r in (cur.fetchall() if cur.description else [])))\n")
        return self.exec("backend", "python", "-c", client, db, user, sql, input=password, check=check)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "20", check=False)


def wait_for(predicate, timeout: float, message: str, interval: float = 2.0):
    return wait_until(predicate, timeout, interval=interval, message=message)


def scrape_targets(prometheus_yml: Path) -> dict[str, list[str]]:
    """job -> host:port targets as prometheus.yml ships them: static targets, and for DNS discovery (the
    backend's replicas) the name:port it resolves (Prometheus labels each target with the address found)."""
    import yaml
    cfg = yaml.safe_load(prometheus_yml.read_text())
    jobs: dict[str, list[str]] = {}
    for j in cfg["scrape_configs"]:
        targets = [t for sc in j.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{n}:{sd['port']}" for sd in j.get("dns_sd_configs", []) for n in sd["names"]]
        if targets:
            jobs[j["job_name"]] = targets
    return jobs


def published_bindings(container: dict) -> list[tuple[str, str]]:
    """(host ip, host port) of every published port of a container."""
    return [(b["HostIp"], b["HostPort"]) for bindings in (container["NetworkSettings"]["Ports"] or {}).values()
            for b in bindings or []]


def service_of(container: dict) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


