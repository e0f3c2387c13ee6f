"""deploy/kubernetes/*.yaml: the same rules, dashboards and Alertmanager configuration as objects for
kube-prometheus-stack, and a Service + ServiceMonitor for every Compose-scraped service of vigil.toml.

Standard library only: rules files are embedded as text under spec.groups (their YAML is the groups
list already), dashboards and Alertmanager files as strings. What other render modules write (the
rendered rules and dashboards) is taken from their output, the hand-written files from disk.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from . import yamlout
from .config import REPO, Config, Service
from .thresholds import HEADER

NAMESPACE = "monitoring"
# kube-prometheus-stack mounts the Secret's keys in this folder and each `secrets:` entry in the next.
AM_CONFIG_DIR = "/etc/alertmanager/config"
AM_SECRETS_DIR = "/etc/alertmanager/secrets"
SLACK_SECRET = "vigil-slack-webhook"
# mimir-distributed's distributor; use the gateway or a managed endpoint instead (docs/scaling.md).
IN_CLUSTER_PUSH_URL = "http://mimir-distributor.mimir.svc:8080/api/v1/push"
OUT = "deploy/kubernetes"
# The `environment` external label (Compose: VIGIL_ENVIRONMENT of .env). Nothing substitutes variables in Helm
# values under the operator, so the file carries a literal; another one: helm install ... --set
# prometheus.prometheusSpec.externalLabels.environment=staging (docs/scaling.md).
ENVIRONMENT = "production"


def _others(cfg: Config) -> dict[str, str]:
    """Every other render module's output: the rendered rules and dashboards, as they will be written."""
    out = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in (__name__.rsplit(".", 1)[-1], "__main__"):
            continue
        mod = importlib.import_module(f"{__package__}.{info.name}")
        if callable(getattr(mod, "files", None)):
            out.update(mod.files(cfg))
    return out


def _glob(rendered: dict[str, str], pattern: str) -> dict[str, str]:
    """{repo path: text} of the files matching pattern: rendered ones first, then those on disk."""
    paths = {str(p.relative_to(REPO)) for p in REPO.glob(pattern)}
    paths |= {p for p in rendered if Path(p).match(pattern)}
    return {p: rendered[p] if p in rendered else (REPO / p).read_text() for p in sorted(paths)}


def meta(name: str, labels: dict | None = None, **extra) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "vigil", **(labels or {})},
            **extra}


def _docs(docs: list[str]) -> str:
    return "".join("---\n" + d for d in docs)


def prometheus_rules(rendered: dict[str, str]) -> str:
    """One PrometheusRule per rules file (vigil-<folder>-<file>); spec.groups is the file's groups, as text."""
    docs = []
    for path, text in _glob(rendered, "prometheus/rules/*/*.yml").items():
        lines = text.splitlines()
        start = lines.index("groups:")
        body = "\n".join(("  " + line) if line else "" for line in lines[start + 1:])
        name = f"vigil-{Path(path).parent.name}-{Path(path).stem}"
        head = yamlout.dump({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                             "metadata": meta(name)})
        docs.append(head + "spec:\n  groups:\n" + body + "\n")
    return _docs(docs)


def dashboard_configmaps(rendered: dict[str, str]) -> str:
    """One ConfigMap per dashboard, labelled for the Grafana sidecar, foldered like the file provider."""
    docs = []
    for path, text in _glob(rendered, "grafana/dashboards/*/*.json").items():
        folder, name = Path(path).parent.name, Path(path).name
        docs.append(yamlout.dump({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": meta(f"vigil-dashboard-{folder}-{Path(path).stem}",
                                                   {"grafana_dashboard": "1"},
                                                   annotations={"grafana_folder": folder.capitalize()}),
                                  "data": {f"{folder}-{name}": text}}))
    return _docs(docs)


def alertmanager_secret() -> str:
    """alertmanager.yml and its templates as the Secret kube-prometheus-stack's configSecret names.

    Only the paths change: the webhook file and the templates live where the operator mounts them.
    """
    text = (REPO / "alertmanager" / "alertmanager.yml").read_text()
    text = text.replace("/run/secrets/", f"{AM_SECRETS_DIR}/{SLACK_SECRET}/")
    text = text.replace("- templates/*.tmpl", f"- {AM_CONFIG_DIR}/*.tmpl")
    data = {"alertmanager.yaml": text}
    for tmpl in sorted((REPO / "alertmanager" / "templates").glob("*.tmpl")):
        data[tmpl.name] = tmpl.read_text()
    return _docs([yamlout.dump({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                "metadata": meta("vigil-alertmanager"), "stringData": data})])


def service_objects(s: Service, interval: str) -> list[str]:
    """A Compose-scraped service's Service (one port, named) and the ServiceMonitor scraping every pod."""
    labels = {"app.kubernetes.io/name": f"vigil-{s.name}", "app.kubernetes.io/part-of": "vigil"}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": meta(f"vigil-{s.name}", {"app.kubernetes.io/name": f"vigil-{s.name}"}),
               "spec": {"selector": {"app.kubernetes.io/name": f"vigil-{s.name}"},
                        "ports": [{"name": "http", "port": s.port, "targetPort": s.port, "protocol": "TCP"}]}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": meta(f"vigil-{s.name}"),
               "spec": {"selector": {"matchLabels": labels}, "namespaceSelector": {"matchNames": [NAMESPACE]},
                        "endpoints": [{"port": "http", "path": s.metrics_path, "interval": s.scrape_interval or interval,
                                       # The rules and dashboards select job="<name>", as in Compose.
                                       "relabelings": [{"action": "replace", "targetLabel": "job",
                                                        "replacement": s.name}]}]}}
    return [yamlout.dump(service), yamlout.dump(monitor)]


def simple_yaml(text: str):
    """Block mappings and sequences of plain scalars (prometheus/remote-write.yml): enough, no PyYAML."""
    rows = [(len(l) - len(l.lstrip()), l.strip()) for l in text.splitlines()
            if l.strip() and not l.strip().startswith("#")]

    def scalar(v: str):
        v = v.split(" #")[0].strip()
        if re.fullmatch(r"-?[0-9]+", v):
            return int(v)
        return {"true": True, "false": False}.get(v, v.strip('"'))

    def block(i: int, indent: int):
        if rows[i][1].startswith("- "):
            out = []
            while i < len(rows) and rows[i][0] == indent and rows[i][1].startswith("- "):
                rows[i] = (indent + 2, rows[i][1][2:])
                value, i = block(i, indent + 2)
                out.append(value)
            return out, i
        out = {}
        while i < len(rows) and rows[i][0] == indent and not rows[i][1].startswith("- "):
            key, _, value = rows[i][1].partition(":")
            if value.strip():
                out[key], i = scalar(value), i + 1
            else:
                out[key], i = block(i + 1, rows[i + 1][0])
        return out, i
    return block(0, 0)[0]


def remote_write_spec() -> dict:
    """The Compose remote_write entry in the operator's spelling (camelCase), with the in-cluster URL."""
    def camel(node):
        if not isinstance(node, dict):
            return node
        return {re.sub(r"_(\w)", lambda m: m.group(1).upper(), k): camel(v) for k, v in node.items()}
    entry = simple_yaml((REPO / "prometheus" / "remote-write.yml").read_text())["remote_write"][0]
    return {**camel(entry), "url": IN_CLUSTER_PUSH_URL}


def _global(prometheus_yml: str, key: str) -> str:
    return re.search(rf"^  {key}: (\S+)", prometheus_yml, re.M).group(1)


def values(prometheus_yml: str) -> dict:
    """kube-prometheus-stack values that pick up the objects above."""
    return {
        "prometheus": {"prometheusSpec": {
            "scrapeInterval": _global(prometheus_yml, "scrape_interval"),
            "evaluationInterval": _global(prometheus_yml, "evaluation_interval"),
            "externalLabels": {"environment": ENVIRONMENT},
            # Select our PrometheusRules and ServiceMonitors although they lack the chart's release label.
            "ruleSelectorNilUsesHelmValues": False, "serviceMonitorSelectorNilUsesHelmValues": False,
            "retention": "30d",
            # Long-term storage: prometheus/remote-write.yml's block, pointed at an in-cluster receiver.
            "remoteWrite": [remote_write_spec()]}},
        "alertmanager": {"alertmanagerSpec": {
            "configSecret": "vigil-alertmanager",
            # Mounted at /etc/alertmanager/secrets/<name>/; create it: see docs/scaling.md.
            "secrets": [SLACK_SECRET]}},
        "grafana": {
            # As docker-compose.prod.yml: keep the preinstalled plugins at the installed version.
            "grafana.ini": {"plugins": {"preinstall_auto_update": False}},
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                       "searchNamespace": NAMESPACE, "folderAnnotation": "grafana_folder",
                                       "provider": {"foldersFromFilesStructure": True}},
                        # The chart's own Prometheus datasource gets uid "prometheus", as in Compose.
                        "datasources": {"uid": "prometheus"}},
            # The other uids the dashboards use; point the URLs at your Loki and PostgreSQL.
            "additionalDataSources": [
                {"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy",
                 "url": "http://loki-gateway.loki.svc"},
                {"name": "Alertmanager", "uid": "alertmanager", "type": "alertmanager", "access": "proxy",
                 "url": "http://kube-prometheus-stack-alertmanager:9093",
                 "jsonData": {"implementation": "prometheus"}}]},
    }


def files(cfg: Config) -> dict[str, str]:
    rendered = _others(cfg)
    prometheus_yml = rendered["prometheus/prometheus.yml"]
    interval = _global(prometheus_yml, "scrape_interval")
    monitored = [s for s in cfg.services if s.scrape == "compose"]
    skipped = [s.name for s in cfg.services if s.scrape != "compose"]
    note = (f"# Not here: {', '.join(skipped)} (static addresses or OTLP; add a ScrapeConfig or point the app's\n"
            f"# OTLP exporter at the cluster's Prometheus yourself).\n" if skipped else "")
    return {
        f"{OUT}/prometheus-rules.yaml": HEADER + prometheus_rules(rendered),
        f"{OUT}/grafana-dashboards.yaml": HEADER + dashboard_configmaps(rendered),
        f"{OUT}/alertmanager-config.yaml": HEADER + alertmanager_secret(),
        f"{OUT}/backend-monitoring.yaml": HEADER
        + "# A Service and a ServiceMonitor per Compose-scraped [[service]] of vigil.toml.\n" + note
        + _docs([d for s in monitored for d in service_objects(s, interval)]),
        f"{OUT}/values-kube-prometheus-stack.yaml": HEADER
        + "# helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack -n monitoring \\\n"
        + "#   -f deploy/kubernetes/values-kube-prometheus-stack.yaml\n"
        + f"# The environment label is {ENVIRONMENT!r}; another: --set prometheus.prometheusSpec.externalLabels.environment=NAME\n"
        + yamlout.dump(values(prometheus_yml)),
    }
