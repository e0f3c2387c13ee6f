"""Prometheus, Alertmanager, the exporters and Jaeger at the pinned versions, from the tools folder
(make tools: scripts/build-tools.sh builds them from the Go module proxy).

The shipped configs address Compose services (``backend:8000``); tests load
them unchanged except for those addresses, rewritten to the loopback ports the
test chose (``rewrite_targets``).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from pathlib import Path

import yaml

from .procs import Proc, free_port, http_get, wait_until
from .services import REPO

PROMETHEUS_DIR = REPO / "prometheus"
ALERTMANAGER_DIR = REPO / "alertmanager"


@functools.cache
def _tools_bin() -> str:
    """The folder scripts/build-tools.sh builds the pinned versions into (built on first use)."""
    out = subprocess.run([str(REPO / "scripts" / "build-tools.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/build-tools.sh failed: {out.stderr.strip()[-2000:]}")
    out = subprocess.run([str(REPO / "scripts" / "build-tools.sh"), "--bin"], capture_output=True, text=True)
    return out.stdout.strip()


class StaticExporter:
    """A scrape target serving fixed text in the Prometheus format: ``bodies`` in turn, one per scrape
    (two copies with different counter values make rates move). Kept-alive connections, as Prometheus uses."""

    def __init__(self, *bodies: bytes):
        turn = iter(range(1 << 62))
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with lock:
                    body = bodies[next(turn) % len(bodies)]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 512  # bench/capacity.py: thousands of targets scraped at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def binary(name: str) -> str:
    """The program from the tools folder: never another copy elsewhere on PATH."""
    folder = _tools_bin()
    found = shutil.which(name, path=folder)
    if not found:
        raise RuntimeError(f"no {name} in {folder}")
    return found


def rewrite_targets(text: str, mapping: dict[str, str]) -> str:
    """Replace each ``host:port`` key of ``mapping`` (whole words only) with its value.

    A DNS-discovered job (``dns_sd_configs`` of type A, names ``host`` and ``port``) whose
    ``host:port`` is a key becomes a static target first: only Compose's DNS resolves those names.
    """
    text = _dns_to_static(text, mapping)
    for old, new in mapping.items():
        text = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", new, text)
    return text


def _dns_to_static(text: str, mapping: dict[str, str]) -> str:
    if "dns_sd_configs" not in text:
        return text
    config = yaml.safe_load(text)
    for job in config.get("scrape_configs", []):
        kept = []
        for sd in job.get("dns_sd_configs", []):
            names = [f"{name}:{sd['port']}" for name in sd["names"]]
            if sd.get("type") == "A" and all(n in mapping for n in names):
                job.setdefault("static_configs", []).append({"targets": names})
            else:
                kept.append(sd)
        if "dns_sd_configs" in job:
            job["dns_sd_configs"] = kept
            if not kept:
                del job["dns_sd_configs"]
    return yaml.safe_dump(config, sort_keys=False)


def promql(base_url: str, expr: str, time: float | None = None) -> list:
    """Instant query; returns the result vector (raises on an API error)."""
    params = {"query": expr}
    if time is not None:
        params["time"] = str(time)
    code, body = http_get(f"{base_url}/api/v1/query?" + urllib.parse.urlencode(params), timeout=10)
    data = json.loads(body)
    if code != 200 or data.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {code} {body[:300]!r}")
    return data["data"]["result"]


def _workdir(prefix: str, files: dict[str, str]) -> Path:
    """A fresh directory holding ``files`` ({relative path: text})."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    for rel, text in files.items():
        path = workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return workdir


def start_prometheus(config_text: str, rule_files: dict[str, str] | None = None,
                     extra_args: list[str] | None = None, port: int | None = None) -> Proc:
    """Prometheus on ``port`` (default: a free one) with ``config_text`` as prometheus.yml.

    ``rule_files`` maps a relative path (as the config's rule_files name it) to
    the file's text; it is written next to the config. ``proc.base_url`` is set.
    """
    workdir = _workdir("vigil-prom-", {"prometheus.yml": config_text, **(rule_files or {})})
    port = port or free_port()
    argv = [binary("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage", *(extra_args or [])]
    # The `environment` external label, as Compose sets it (VIGIL_ENVIRONMENT, default dev).
    env = {"VIGIL_ENVIRONMENT": os.environ.get("VIGIL_ENVIRONMENT", "dev")}
    proc = Proc("prometheus", argv, env=env, cwd=str(workdir)).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.workdir = workdir
    proc.wait_http(proc.base_url + "/-/ready", timeout=30)
    return proc


def start_alertmanager(config_text: str, files: dict[str, str] | None = None) -> Proc:
    """Alertmanager on a free port (clustering off); ``files`` are written beside the config."""
    workdir = _workdir("vigil-am-", {"alertmanager.yml": config_text, **(files or {})})
    port = free_port()
    argv = [binary("alertmanager"), f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    proc = Proc("alertmanager", argv, cwd=str(workdir)).start()
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.workdir = workdir
    proc.wait_http(proc.base_url + "/-/ready", timeout=30)
    return proc


def _exporter(name: str, argv: list[str], port: int, env: dict | None = None) -> Proc:
    proc = Proc(name, argv, env=env).start()
    proc.address = f"127.0.0.1:{port}"
    proc.wait_http(f"http://{proc.address}/metrics", timeout=30)
    return proc


def start_node_exporter() -> Proc:
    port = free_port()
    return _exporter("node-exporter", [binary("node_exporter"),
                                       f"--web.listen-address=127.0.0.1:{port}"], port)


def compose_command(service: str) -> list[str]:
    """The command docker-compose.yml gives ``service`` (an exporter's flags): tests pass the same."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][service].get("command", [])


def start_postgres_exporter(dsn: str) -> Proc:
    port = free_port()
    return _exporter("postgres-exporter", [binary("postgres_exporter"),
                                           f"--web.listen-address=127.0.0.1:{port}",
                                           *compose_command("postgres-exporter")],
                     port, env={"DATA_SOURCE_NAME": dsn})


def start_redis_exporter(redis_url: str) -> Proc:
    port = free_port()
    return _exporter("redis-exporter", [binary("redis_exporter"),
                                        f"-web.listen-address=127.0.0.1:{port}",
                                        f"-redis.addr={redis_url}"], port)


def wait_for_targets_up(prom: Proc, jobs: set[str], timeout: float = 60) -> dict:
    """Poll /api/v1/targets until every target of ``jobs`` is up; return {job: [targets]}."""
    def ready():
        _, body = http_get(prom.base_url + "/api/v1/targets?state=active")
        targets = json.loads(body)["data"]["activeTargets"]
        by_job = {}
        for t in targets:
            by_job.setdefault(t["labels"]["job"], []).append(t)
        if all(j in by_job and all(t["health"] == "up" for t in by_job[j]) for j in jobs):
            return by_job
        return None
    return wait_until(ready, timeout, interval=0.5, message=f"targets of {sorted(jobs)} up")


def start_jaeger(max_traces: int = 10000) -> Proc:
    """Jaeger v2 (all-in-one: OTLP receiver, in-memory storage, query API) on free loopback ports.

    The config follows Jaeger's own all-in-one.yaml with every listener on 127.0.0.1 (Jaeger binds
    localhost or all interfaces by default) and only the OTLP receiver. Sets ``proc.otlp_http`` (the
    base URL an OTLP/HTTP exporter takes), ``proc.otlp_grpc`` (host:port), ``proc.base_url`` (query
    API and UI) and ``proc.metrics_url`` (its own Prometheus metrics).
    """
    otlp_http, otlp_grpc, query_http, query_grpc, health, metrics = (free_port() for _ in range(6))
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {
                    "host": "127.0.0.1", "port": metrics}}}}]},
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "jaeger_query": {"storage": {"traces": "memstore"},
                             "http": {"endpoint": f"127.0.0.1:{query_http}"},
                             "grpc": {"endpoint": f"127.0.0.1:{query_grpc}"}},
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": max_traces}}}},
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"127.0.0.1:{health}"}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp_grpc}"},
                                             "http": {"endpoint": f"127.0.0.1:{otlp_http}"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }
    workdir = _workdir("vigil-jaeger-", {"config.yaml": yaml.safe_dump(config, sort_keys=False)})
    proc = Proc("jaeger", [binary("jaeger"), f"--config={workdir / 'config.yaml'}"], cwd=str(workdir)).start()
    proc.workdir = workdir
    proc.base_url = f"http://127.0.0.1:{query_http}"
    proc.otlp_http = f"http://127.0.0.1:{otlp_http}"
    proc.otlp_grpc = f"127.0.0.1:{otlp_grpc}"
    proc.metrics_url = f"http://127.0.0.1:{metrics}/metrics"
    proc.wait_http(f"http://127.0.0.1:{health}/status", timeout=60)
    proc.wait_http(proc.base_url + "/api/services", timeout=30)
    return proc
