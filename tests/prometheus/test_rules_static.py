"""Prometheus config and rules, checked by the real promtool (3.13, make tools).

Runs: promtool check config, promtool check rules, promtool test rules (the unit tests
in prometheus/tests/). Then cross-checks the rule files themselves: every alert has a
firing and a silent unit test, a runbook, the labels and annotations Alertmanager and
Slack rely on; recording rules follow level:metric:operations; backend metric names
exist in backend/observability/metrics.py (generic) or backend/app/metrics.py (business).
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from harness import promrules
from harness.monitoring import binary

PROMTOOL = binary("promtool")
CONFIG = promrules.PROMETHEUS_DIR / "prometheus.yml"
ALERTS = promrules.alerting_rules()
ALERT_NAMES = sorted(r["alert"] for r in ALERTS)
DASHBOARD_UIDS = {json.loads(p.read_text())["uid"] for p in (promrules.REPO / "grafana" / "dashboards").rglob("*.json")}
COMPOSE = yaml.safe_load((promrules.REPO / "docker-compose.yml").read_text())["services"]
# The scrape jobs (and so the alerts' service labels) are Compose services.
COMPOSE_JOBS = {"backend", "prometheus", "alertmanager", "node-exporter", "postgres-exporter",
                "redis-exporter", "loki", "grafana", "alloy", "jaeger", "otel-collector"}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                          cwd=promrules.PROMETHEUS_DIR)


def test_promtool_accepts_the_config_and_its_rule_files():
    result = promtool("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    # check config also loads every file the rule_files glob matches.
    for name in promrules.rule_files():
        assert f"Checking {promrules.PROMETHEUS_DIR / name}" in result.stdout + result.stderr


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", *promrules.rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    files = sorted(str(p.relative_to(promrules.PROMETHEUS_DIR)) for p in promrules.UNIT_TESTS_DIR.glob("*/*.yml"))
    assert files
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def container_ports(service: dict) -> set[int]:
    """`expose` plus the container side of `ports` ("127.0.0.1:${X:-3001}:3000" -> 3000)."""
    ports = {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    return ports | {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}


def test_every_target_is_a_compose_service_port():
    config = yaml.safe_load(CONFIG.read_text())
    addresses = [(job["job_name"], t) for job in config["scrape_configs"]
                 for sc in job.get("static_configs", []) for t in sc["targets"]]
    addresses += [(job["job_name"], f"{name}:{sd['port']}") for job in config["scrape_configs"]
                  for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
    addresses += [("alertmanager", t) for am in config["alerting"]["alertmanagers"]
                  for sc in am["static_configs"] for t in sc["targets"]]
    for job, target in addresses:
        host, port = target.rsplit(":", 1)
        if job == "prometheus" and host == "localhost":  # Prometheus scrapes itself
            host = "prometheus"
        assert host == job, f"job {job} should scrape the Compose service of the same name, not {host}"
        assert host in COMPOSE, f"{host} is not a Compose service"
        assert int(port) in container_ports(COMPOSE[host]), f"{host} does not declare port {port}"


def test_config_scrapes_every_compose_service_and_avoids_newer_keys():
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == COMPOSE_JOBS
    assert config["global"]["scrape_interval"] == "15s" and config["global"]["evaluation_interval"] == "15s"
    backend = next(job for job in config["scrape_configs"] if job["job_name"] == "backend")
    assert backend["scrape_interval"] == "5s"
    assert config["global"]["external_labels"]["environment"]
    # The flags Compose must pass are written down next to the config.
    assert "--storage.tsdb.retention.time=30d" in text and "--enable-feature=exemplar-storage" in text
    assert "--web.enable-otlp-receiver" in text and config["otlp"]["promote_resource_attributes"]


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_labels_annotations_and_runbook(name):
    rule = next(r for r in ALERTS if r["alert"] == name)
    labels, ann = rule["labels"], rule["annotations"]
    assert labels["severity"] in ("critical", "warning", "info")
    assert labels["service"] in COMPOSE or labels["service"] == "{{ $labels.job }}"
    assert set(ann) >= {"summary", "description", "runbook_url", "dashboard"}
    assert "$value" in ann["description"], "the description quotes the value"
    assert re.search(r"\$(labels|externalLabels)\.", ann["description"] + ann["summary"]), "no label quoted"
    assert ann["runbook_url"] == f"{promrules.RUNBOOK_URL_PREFIX}{name.lower()}"
    assert (promrules.REPO / "grafana" / "dashboards" / "runbooks" / f"{name}.json").is_file(), "regenerate Grafana"
    assert ann["dashboard"].removeprefix("/d/") in DASHBOARD_UIDS, "no Grafana dashboard with that uid"
    runbook = promrules.RUNBOOKS_DIR / f"{name}.md"
    assert runbook.is_file(), f"{runbook} is missing"
    text = runbook.read_text()
    assert text.startswith(f"# {name}")
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
        assert section in text, f"{runbook.name} lacks {section}"


def test_fixed_alert_names_and_severities():
    """Names other components (Alertmanager routes, demo-alert) rely on."""
    severity = {r["alert"]: r["labels"]["severity"] for r in ALERTS}
    assert severity["BackendDown"] == "critical"
    assert severity["HighErrorRatio"] == "critical"
    assert severity["TargetDown"] == "warning"
    assert severity["LLMErrorRatioHigh"] == "warning"


def test_every_runbook_belongs_to_an_alert():
    assert sorted(p.stem for p in promrules.RUNBOOKS_DIR.glob("*.md")) == ALERT_NAMES


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    fires, silent = set(), set()
    for case in promrules.unit_tests():
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert not set(ALERT_NAMES) - fires, "alerts without a firing test"
    # Watchdog (the dead man's switch) is vector(1): it cannot be silent, by design.
    assert not set(ALERT_NAMES) - silent - {"Watchdog"}, "alerts without a not-firing test"


def test_firing_tests_expect_every_label_and_annotation():
    for case in promrules.unit_tests():
        for check in case.get("alert_rule_test", []):
            rule = next(r for r in ALERTS if r["alert"] == check["alertname"])
            for exp in check.get("exp_alerts") or []:
                assert set(exp["exp_labels"]) >= set(rule["labels"]), check["alertname"]
                assert set(exp["exp_annotations"]) == set(rule["annotations"]), check["alertname"]


def test_recording_rule_names_follow_level_metric_operations():
    names = [r["record"] for r in promrules.recording_rules()]
    # The SLO groups (one per service of vigil.toml) record the same names with other `job`/`slo` labels.
    seen = [(r["record"], json.dumps(r.get("labels", {}), sort_keys=True), r["expr"]) for r in promrules.recording_rules()]
    assert len(seen) == len(set(seen)), "a recording rule is defined twice"
    slo = {r["record"] for g in promrules.groups() if g["name"].startswith("vigil-slo-") for r in g["rules"]
           if "record" in r}
    twice = {n for n in names if names.count(n) > 1}
    assert twice <= slo, f"recorded by two rules outside the SLO groups: {twice - slo}"
    for name in names:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_le_is_matched_in_the_float_form_prometheus_3_stores():
    """Prometheus 3 stores le as a float ("1" -> "1.0"): a matcher for "1", or a regex, is a relic of 2.x."""
    matchers = [(rule.get("record") or rule.get("alert"), m) for group in promrules.groups()
                for rule in group["rules"] for m in re.findall(r'\ble\s*(=~|!~|=|!=)\s*"([^"]*)"', rule["expr"])]
    assert matchers, "the latency SLO rules select the le=\"1.0\" bucket"
    for name, (op, value) in matchers:
        assert op in ("=", "!="), f"{name}: le{op}\"{value}\" (match one bucket by its float form)"
        assert value == "+Inf" or value == repr(float(value)), f"{name}: le=\"{value}\" is not a float form"


def test_backend_metrics_named_in_rules_exist():
    exporters = {"up"}  # the rest come from exporters, Prometheus and Alertmanager (checked live)
    backend = promrules.backend_metric_names()
    for rule in promrules.recording_rules() + ALERTS:
        for name in promrules.metric_names(rule["expr"]):
            if name.split("_")[0] in ("node", "pg", "redis", "prometheus", "alertmanager") or name in exporters:
                continue
            assert name in backend, f"{rule.get('record') or rule.get('alert')}: {name} in neither metrics.py"


def test_group_names_are_unique():
    names = [g["name"] for g in promrules.groups()]
    assert len(names) == len(set(names))
