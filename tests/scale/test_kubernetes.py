"""deploy/kubernetes/: generated from the sources of truth, loadable by the programs that will read it.

Runs real programs: promtool 3.13 and amtool 0.33 (make tools) on what the objects hold,
and kubernetes-validate's bundled Kubernetes schemas (offline) on the core objects. The operator's CRDs
(PrometheusRule, ServiceMonitor) have no schema in kubernetes-validate: their contents are checked against
what reads them (promtool) and against the objects they select.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from harness import REPO, promrules
from harness.monitoring import binary

OUT = REPO / "deploy" / "kubernetes"
sys.path.insert(0, str(REPO))
from render import kubernetes as generate  # noqa: E402  (names and folders the objects use)

# The oldest Kubernetes minor still supported upstream when this was written, and the newest bundled.
K8S_VERSIONS = ["1.33", kubernetes_validate.utils.latest_version()]
CORE_KINDS = {"ConfigMap", "Secret", "Service"}


@functools.cache
def objects() -> list[dict]:
    # The C loader when PyYAML has it: the dashboards file is large.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for p in sorted(OUT.glob("*.yaml")) if not p.name.startswith("values")
            for d in yaml.load_all(p.read_text(), Loader=loader) if d]


def of_kind(kind: str) -> list[dict]:
    return [o for o in objects() if o["kind"] == kind]


def test_generated_files_are_up_to_date():
    result = subprocess.run([sys.executable, "-m", "render", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(version):
    core = [o for o in objects() if o["kind"] in CORE_KINDS]
    assert {o["kind"] for o in core} == CORE_KINDS
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)  # raises on any error or unknown field
    names = [(o["kind"], o["metadata"]["name"]) for o in objects()]
    assert len(names) == len(set(names)), "two objects share a kind and name"
    # ConfigMap and Secret data are capped at 1 MiB by the API server.
    for obj in core:
        size = sum(len(v.encode()) for v in (obj.get("data") or obj.get("stringData") or {}).values())
        assert size < 1024 * 1024, obj["metadata"]["name"]


def test_schema_validation_rejects_a_broken_object():
    service = of_kind("Service")[0]
    broken = {**service, "spec": {**service["spec"], "ports": [{"name": "http", "port": "eight thousand"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_prometheus_rules_hold_exactly_the_shipped_groups():
    rules = {o["metadata"]["name"]: o["spec"]["groups"] for o in of_kind("PrometheusRule")}
    shipped = {f"vigil-{p.parent.name}-{p.stem}": yaml.safe_load(p.read_text())["groups"]
               for p in sorted(promrules.RULES_DIR.glob("*/*.yml"))}
    assert rules == shipped


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """Each PrometheusRule's groups as a rules file named like its source (vigil-<folder>-<file>), under rules/."""
    root = tmp_path_factory.mktemp("k8s-rules")
    for obj in of_kind("PrometheusRule"):
        folder, name = obj["metadata"]["name"].removeprefix("vigil-").split("-", 1)
        (root / "rules" / folder).mkdir(parents=True, exist_ok=True)
        (root / "rules" / folder / f"{name}.yml").write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]},
                                                                           sort_keys=False))
    return root


def test_promtool_checks_each_extracted_rules_file(extracted):
    files = sorted(str(p) for p in (extracted / "rules").glob("*/*.yml"))
    assert len(files) == len(list(promrules.RULES_DIR.glob("*/*.yml")))
    result = subprocess.run([binary("promtool"), "check", "rules", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_rule_unit_tests_give_the_same_results_on_the_extracted_groups(extracted):
    """prometheus/tests/*/*.yml run twice: on prometheus/rules and on the groups taken out of the objects.

    Equal outcomes prove the objects hold rules that behave identically; the unit tests' own pass/fail
    status is the business of tests/prometheus/test_rules_static.py.
    """
    tests_dir = extracted / "tests"
    for case in sorted(promrules.UNIT_TESTS_DIR.glob("*/*.yml")):
        (tests_dir / case.parent.name).mkdir(parents=True, exist_ok=True)
        (tests_dir / case.parent.name / case.name).write_text(case.read_text())
    # Both runs at once (one core each): promtool evaluates hours of rules per file.
    procs = [subprocess.Popen([binary("promtool"), "test", "rules",
                               *sorted(str(p.relative_to(folder)) for p in folder.glob("*/*.yml"))],
                              cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for folder in (promrules.UNIT_TESTS_DIR, tests_dir)]
    runs = [(proc.communicate(timeout=600)[0], proc.returncode)[::-1] for proc in procs]
    assert runs[1] == runs[0]
    # promtool reports SUCCESS or FAILED once per file: every file ran.
    files = len(list(promrules.UNIT_TESTS_DIR.glob("*/*.yml")))
    assert files and runs[1][1].count("SUCCESS") + runs[1][1].count("FAILED:") == files, runs[1][1]


def test_alertmanager_secret_loads_in_amtool(tmp_path):
    secret = of_kind("Secret")[0]
    data = secret["stringData"]
    config_dir, secrets_dir = tmp_path / "config", tmp_path / "secrets"
    config_dir.mkdir()
    (secrets_dir / generate.SLACK_SECRET).mkdir(parents=True)
    (secrets_dir / generate.SLACK_SECRET / "slack_webhook_url").write_text("https://hooks.slack.invalid/x\n")
    text = data["alertmanager.yaml"]
    assert "/run/secrets" not in text and generate.AM_CONFIG_DIR in text
    for key, value in data.items():
        if key != "alertmanager.yaml":
            (config_dir / key).write_text(value)
    text = text.replace(generate.AM_CONFIG_DIR, str(config_dir)).replace(generate.AM_SECRETS_DIR, str(secrets_dir))
    (config_dir / "alertmanager.yaml").write_text(text)
    result = subprocess.run([binary("amtool"), "check-config", str(config_dir / "alertmanager.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    templates = sorted(p.name for p in (REPO / "alertmanager" / "templates").glob("*.tmpl"))
    assert templates and all(t in data for t in templates)


def test_dashboard_configmaps_carry_every_dashboard_for_the_sidecar():
    maps = of_kind("ConfigMap")
    shipped = {p.name: p.read_text() for p in (REPO / "grafana" / "dashboards").glob("*/*.json")}
    carried = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"]
        for key, text in cm["data"].items():
            carried[key.split("-", 1)[1]] = text
    assert carried == shipped


def test_service_monitor_selects_the_backend_service_like_prometheus_yml():
    service, = of_kind("Service")
    monitor, = of_kind("ServiceMonitor")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    endpoint, = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "backend")
    assert endpoint["interval"] == job["scrape_interval"]
    # The rules select job="backend": the monitor must produce that label.
    assert {"action": "replace", "targetLabel": "job", "replacement": "backend"} in endpoint["relabelings"]


def test_values_wire_the_generated_objects():
    values = yaml.safe_load((OUT / "values-kube-prometheus-stack.yaml").read_text())
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["ruleSelectorNilUsesHelmValues"] is False and spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert spec["evaluationInterval"] == config["global"]["evaluation_interval"]
    # The same external labels as Compose, as literals: nothing substitutes ${VIGIL_ENVIRONMENT} in Helm values
    # under the operator (the label, and Watchdog's text, would go empty).
    assert spec["externalLabels"].keys() == config["global"]["external_labels"].keys()
    assert spec["externalLabels"]["environment"] == generate.ENVIRONMENT
    text = (OUT / "values-kube-prometheus-stack.yaml").read_text()
    assert "${" not in text and "externalLabels.environment=" in text
    shipped_rw = yaml.safe_load((REPO / "prometheus" / "remote-write.yml").read_text())["remote_write"][0]
    rw, = spec["remoteWrite"]
    assert rw["name"] == shipped_rw["name"] and rw["url"].endswith("/api/v1/push")
    assert rw["queueConfig"] == {"maxSamplesPerSend": shipped_rw["queue_config"]["max_samples_per_send"],
                                 "maxShards": shipped_rw["queue_config"]["max_shards"]}
    am = values["alertmanager"]["alertmanagerSpec"]
    assert am["configSecret"] == of_kind("Secret")[0]["metadata"]["name"]
    assert am["secrets"] == [generate.SLACK_SECRET]
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert {sidecar["label"]: sidecar["labelValue"]}.items() <= of_kind("ConfigMap")[0]["metadata"]["labels"].items()
    assert sidecar["folderAnnotation"] in of_kind("ConfigMap")[0]["metadata"]["annotations"]
    # Every datasource uid a dashboard uses exists in the Grafana the chart installs.
    uids = {values["grafana"]["sidecar"]["datasources"]["uid"]}
    uids |= {d["uid"] for d in values["grafana"]["additionalDataSources"]}
    used = set()
    for cm in of_kind("ConfigMap"):
        for text in cm["data"].values():
            used |= {m for m in _datasource_uids(text)}
    assert used and used - {"-- Grafana --", "grafana"} <= uids | {"postgres", "jaeger"}, used - uids


def _datasource_uids(text: str):
    import json

    def walk(node):
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and isinstance(ds.get("uid"), str) and not ds["uid"].startswith("$"):
                yield ds["uid"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
    yield from walk(json.loads(text))
