"""The OTLP gateway as Compose runs it: the collector built from otelcol/builder.yaml with otelcol/config.yaml.

The shipped config is loaded and only its addresses change: every listener moves to a free loopback port and
each exporter to the test's own Jaeger, Prometheus and logs receiver (Compose's service names resolve only
inside Compose). Everything else — components, pipelines, processors — is the file users run.
"""
from __future__ import annotations

import http.server
import threading

import yaml

from .monitoring import _workdir, binary
from .procs import Proc, free_port
from .services import REPO

COLLECTOR_CONFIG = REPO / "otelcol" / "config.yaml"


def collector_config(jaeger_grpc: str, prometheus_url: str, logs_url: str) -> tuple[dict, dict]:
    """The shipped config with test addresses; returns (config, ports)."""
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    ports = {name: free_port() for name in ("grpc", "http", "health", "metrics")}
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{ports['grpc']}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{ports['http']}"
    config["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{ports['health']}"
    exporters = config["exporters"]
    pipelines = config["service"]["pipelines"]
    [traces] = pipelines["traces"]["exporters"]
    exporters[traces]["endpoint"] = jaeger_grpc
    [metrics] = pipelines["metrics"]["exporters"]
    assert exporters[metrics]["metrics_endpoint"].startswith("http://prometheus:9090/")
    exporters[metrics]["metrics_endpoint"] = exporters[metrics]["metrics_endpoint"].replace(
        "http://prometheus:9090", prometheus_url)
    [logs] = pipelines["logs"]["exporters"]
    assert exporters[logs]["logs_endpoint"].startswith("http://loki:3100/")
    exporters[logs]["logs_endpoint"] = exporters[logs]["logs_endpoint"].replace("http://loki:3100", logs_url)
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    reader.update(host="127.0.0.1", port=ports["metrics"])
    return config, ports


def start_collector(jaeger_grpc: str, prometheus_url: str, logs_url: str) -> Proc:
    """The collector on free loopback ports. Sets ``otlp_http`` (base URL for an OTLP/HTTP exporter),
    ``otlp_grpc`` (host:port), ``metrics_address`` (its own metrics, host:port) and ``health_url``."""
    config, ports = collector_config(jaeger_grpc, prometheus_url, logs_url)
    workdir = _workdir("vigil-otelcol-", {"config.yaml": yaml.safe_dump(config, sort_keys=False)})
    proc = Proc("otelcol", [binary("otelcol"), f"--config={workdir / 'config.yaml'}"], cwd=str(workdir)).start()
    proc.workdir = workdir
    proc.otlp_http = f"http://127.0.0.1:{ports['http']}"
    proc.otlp_grpc = f"127.0.0.1:{ports['grpc']}"
    proc.metrics_address = f"127.0.0.1:{ports['metrics']}"
    proc.health_url = f"http://127.0.0.1:{ports['health']}/"
    proc.wait_http(proc.health_url, timeout=60)
    return proc


class LogsReceiver:
    """Stands in for Loki's OTLP endpoint (Loki cannot run here): records each POST's path and body."""

    def __init__(self):
        self.posts: list[tuple[str, dict, bytes]] = []
        lock = threading.Lock()
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    posts.append((self.path, dict(self.headers), body))
                status = 204 if self.path == "/otlp/v1/logs" else 404
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
