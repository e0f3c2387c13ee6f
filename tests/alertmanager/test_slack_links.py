"""Every link of every Slack message opens the right page in production, from .env settings alone.

Real programs: Compose v2 (`config`: resolves docker-compose.yml + docker-compose.prod.yml with a
production-like .env, as `make prod-up` would, including the link template it writes for
Alertmanager), amtool (`template render`: the shipped Slack templates plus that link template, for
every alert rule Prometheus can send) and Prometheus (the shipped prometheus.yml with the flags and
environment Compose gives it: the `environment` external label). Each URL is then checked against
what the stack serves: Grafana dashboard uids provisioned from grafana/dashboards (runbooks included,
each holding its docs/runbooks file), Prometheus' /graph with the rule's expression, Alertmanager's
silence form.
"""
from __future__ import annotations

import json
import re
import urllib.parse

import pytest
import yaml

from compose.stack import PROD, PROD_REQUIRED, ROOT, model, read_env_file
from harness import http_get, promrules
from harness.monitoring import start_prometheus

from .test_config import amtool

PRODUCTION = {"GRAFANA_ROOT_URL": "https://grafana.example.com", "VIGIL_ENVIRONMENT": "production",
              "PROMETHEUS_EXTERNAL_URL": "https://ops.example.com/prometheus",
              "ALERTMANAGER_EXTERNAL_URL": "https://ops.example.com/alertmanager"}
LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """The resolved production project and its .env values."""
    values = {**read_env_file(ROOT / ".env.example"), **PRODUCTION}
    for name in PROD_REQUIRED:
        values[name] = f"prod-value-for-{name.lower()}"
    path = tmp_path_factory.mktemp("prod-env") / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return model(PROD, path), values


def flag(command: list[str], name: str) -> str:
    (value,) = [c.split("=", 1)[1] for c in command if c.startswith(f"--{name}=")]
    return value


def provisioned() -> dict[str, dict]:
    return {d["uid"]: d for d in (json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards").rglob("*.json"))}


def generator_url(external: str, expr: str) -> str:
    """The link Prometheus puts on each alert (rules/alerting.go: external URL + TableLinkForExpression)."""
    return f"{external}/graph?g0.expr={urllib.parse.quote_plus(expr)}&g0.tab=1"


def test_every_slack_link_resolves_in_production(prod, tmp_path):
    project, values = prod
    links_file = tmp_path / "alert-links.tmpl"
    # The template Compose hands Alertmanager, at the path alertmanager.yml loads it from.
    (mount,) = project["services"]["alertmanager"]["configs"]
    assert mount["target"].startswith("/etc/vigil/") and mount["target"].endswith(".tmpl")
    assert "/etc/vigil/*.tmpl" in yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())["templates"]
    links_file.write_text(project["configs"][mount["source"]]["content"])
    prom_url = flag(project["services"]["prometheus"]["command"], "web.external-url")
    am_url = flag(project["services"]["alertmanager"]["command"], "web.external-url")
    assert (prom_url, am_url) == (values["PROMETHEUS_EXTERNAL_URL"], values["ALERTMANAGER_EXTERNAL_URL"])
    environment = project["services"]["prometheus"]["environment"]["VIGIL_ENVIRONMENT"]

    dashboards = provisioned()
    runbooks = {p.stem: p.read_text() for p in promrules.RUNBOOKS_DIR.glob("*.md")}
    alerts = promrules.alerting_rules()
    assert alerts
    checked = 0
    for rule in alerts:
        alert = {"status": "firing", "labels": {"alertname": rule["alert"], **rule["labels"],
                                                "service": "backend", "environment": environment},
                 "annotations": rule["annotations"], "generatorURL": generator_url(prom_url, rule["expr"]),
                 "startsAt": "2026-11-30T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
        data = {"receiver": "warning", "status": "firing", "alerts": [alert],
                "groupLabels": {"alertname": rule["alert"]}, "commonLabels": alert["labels"],
                "commonAnnotations": rule["annotations"], "externalURL": am_url}
        (tmp_path / "data.json").write_text(json.dumps(data))
        result = amtool("template", "render", f"--template.glob={ROOT / 'alertmanager' / 'templates'}/*.tmpl",
                        f"--template.glob={links_file}", '--template.text={{ template "vigil.slack.text" . }}',
                        f"--template.data={tmp_path / 'data.json'}")
        assert result.returncode == 0, result.stderr
        links = {label: url for url, label in LINK.findall(result.stdout)}
        assert set(links) == {"Runbook", "Dashboard", "Query", "Silence"}, (rule["alert"], result.stdout)
        assert "localhost" not in result.stdout and "github.com" not in result.stdout, result.stdout
        assert f"`environment={environment}`" in result.stdout

        for label in ("Dashboard", "Runbook"):   # Grafana pages: a provisioned dashboard uid
            url = links[label]
            assert url.startswith(values["GRAFANA_ROOT_URL"] + "/d/"), (rule["alert"], label, url)
            uid = url.removeprefix(values["GRAFANA_ROOT_URL"] + "/d/")
            assert uid in dashboards, f"{rule['alert']}: {label} link {url}: no dashboard with uid {uid}"
        runbook = dashboards[links["Runbook"].rsplit("/", 1)[1]]
        assert runbook["panels"][0]["options"]["content"] == runbooks[rule["alert"]], rule["alert"]
        query = urllib.parse.urlsplit(links["Query"])   # Prometheus' graph page with the rule's expression
        assert f"{query.scheme}://{query.netloc}{query.path}" == prom_url + "/graph"
        assert urllib.parse.parse_qs(query.query)["g0.expr"] == [rule["expr"]]
        silence = links["Silence"]   # Alertmanager's silence form, filtered on this alert
        assert silence.startswith(am_url + "/#/silences/new?filter=")
        assert urllib.parse.unquote_plus(silence.split("filter=", 1)[1]) == \
               f'{{alertname="{rule["alert"]}",service="backend"}}'
        checked += 1
    assert checked == len(alerts)


def test_environment_label_comes_from_env(prod, monkeypatch):
    """Prometheus with the flags and environment Compose gives it reports environment="production"."""
    project, _ = prod
    service = project["services"]["prometheus"]
    monkeypatch.setenv("VIGIL_ENVIRONMENT", service["environment"]["VIGIL_ENVIRONMENT"])
    config = (ROOT / "prometheus" / "prometheus.yml").read_text()
    prom = start_prometheus(config)
    try:
        code, body = http_get(prom.base_url + "/api/v1/status/config", timeout=10)
    finally:
        prom.stop()
    assert code == 200
    loaded = yaml.safe_load(json.loads(body)["data"]["yaml"])
    assert loaded["global"]["external_labels"] == {"environment": "production"}
