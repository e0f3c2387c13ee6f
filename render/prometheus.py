"""prometheus/prometheus.yml and prometheus/prometheus.remote-write.yml from vigil.toml.

The template (render/templates/prometheus.yml) holds the global settings, the rule files and the stack's
own scrape jobs; the line "# {{services}}" becomes one job per [[service]]:
  compose  dns_sd_configs on <compose_service>:<port>: Docker's DNS answers with every replica
  static   static_configs with the service's targets (an app on the host: host.docker.internal:PORT)
  otlp     no job: the app pushes to Prometheus' OTLP receiver
The remote-write variant (Compose profile `scale`) is that file plus prometheus/remote-write.yml.
"""
from __future__ import annotations

from pathlib import Path

from . import yamlout
from .config import REPO, Config, Service
from .thresholds import HEADER

TEMPLATE = Path(__file__).resolve().parent / "templates" / "prometheus.yml"
MARKER = "  # {{services}}: one job per [[service]] of vigil.toml\n"
REMOTE_WRITE = REPO / "prometheus" / "remote-write.yml"


def job(s: Service) -> dict:
    out: dict = {"job_name": s.name}
    if s.scrape_interval:
        out["scrape_interval"] = s.scrape_interval
    if s.metrics_path != "/metrics":
        out["metrics_path"] = s.metrics_path
    if s.scrape == "compose":
        out["dns_sd_configs"] = [{"names": [s.compose_service], "type": "A", "port": s.port, "refresh_interval": "15s"}]
    else:
        out["static_configs"] = [{"targets": list(s.targets)}]
    return out


def _comment(s: Service) -> str:
    if s.scrape == "compose":
        return (f"  # {s.name}: every replica of Compose service {s.compose_service} (`docker compose up --scale "
                f"{s.compose_service}=3`)\n  # becomes an instance <ip>:{s.port}.\n")
    if s.scrape == "static":
        return f"  # {s.name}: fixed addresses (docs/your-own-service.md: an app outside Compose).\n"
    return f"  # {s.name}: pushes OTLP (job = its service.name); nothing to scrape.\n"


def config_text(cfg: Config) -> str:
    template = TEMPLATE.read_text()
    if MARKER not in template:
        raise RuntimeError(f"{TEMPLATE} lost its line {MARKER.strip()!r}")
    jobs = ""
    for s in cfg.services:
        jobs += _comment(s)
        if s.scrape != "otlp":
            jobs += yamlout.dump([job(s)]).replace("\n", "\n  ").rstrip(" ").join(["  ", ""])
        jobs += "\n"
    return HEADER + template.replace(MARKER, jobs.rstrip("\n") + "\n")


def files(cfg: Config) -> dict[str, str]:
    text = config_text(cfg)
    remote = (HEADER + "# prometheus.yml + prometheus/remote-write.yml: the config of the Compose profile `scale`.\n"
              + text.removeprefix(HEADER).rstrip("\n") + "\n\n" + REMOTE_WRITE.read_text())
    return {"prometheus/prometheus.yml": text, "prometheus/prometheus.remote-write.yml": remote}
