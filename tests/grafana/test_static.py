"""Static checks of Grafana's provisioning and dashboards. Runs no program: reads the files.

Grafana itself cannot run here, so these checks stand in for what Grafana would refuse or
show broken: JSON that does not load, duplicate uids, panels pointing at datasources or
variables that do not exist, missing descriptions, dashboards out of step with generate.py.
"""
from __future__ import annotations

import re

import pytest
import yaml

from harness import REPO

from .panels import (DASHBOARD_DIR, DATASOURCES_FILE, PROVIDERS_FILE, all_panels, dashboards, datasources,
                     load_generator, queries, resolve_uid, used_variables, variables)

EXPECTED_UIDS = {"vigil-overview", "vigil-llm", "vigil-workflows", "vigil-infra", "vigil-logs",
                 "vigil-security", "vigil-business"}  # the contract every helper links to
DATASOURCE_UIDS = {"prometheus", "mimir", "loki", "jaeger", "alertmanager", "postgres"}


def compose_services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_regenerating_changes_nothing():
    files = load_generator().render()
    on_disk = set(DASHBOARD_DIR.glob("*/*.json"))
    assert on_disk == set(files), "stale or missing dashboard files: run python grafana/generate.py"
    for path, text in files.items():
        assert path.read_text() == text, f"{path} differs from generate.py's output: regenerate"


def test_dashboards_load_with_unique_stable_uids():
    dashes = dashboards()
    uids = [d["uid"] for d in dashes.values()]
    assert sorted(uids) == sorted(EXPECTED_UIDS)
    for path, d in dashes.items():
        assert d["title"] and d["description"], path
        assert 39 <= d["schemaVersion"] <= 41, path
        assert "id" not in d or d["id"] is None, f"{path}: a fixed numeric id clashes across instances"
        ids = [p["id"] for p in all_panels(d)]
        assert len(ids) == len(set(ids)), f"{path}: duplicate panel ids"
        titles = [p["title"] for p in all_panels(d)]
        assert len(titles) == len(set(titles)), f"{path}: duplicate panel titles"


def test_every_panel_has_description_datasource_and_unit():
    sources = datasources()
    for d in dashboards().values():
        for p in all_panels(d):
            where = f"{d['uid']} / {p['title']}"
            if p["type"] == "row":
                continue
            assert p.get("description", "").strip(), f"{where}: no description"
            assert p.get("targets"), f"{where}: no query"
            uid = resolve_uid(p.get("datasource"), d, sources)
            assert uid in sources, f"{where}: datasource {p.get('datasource')} is not provisioned"
            refs = [t.get("refId") for t in p["targets"]]
            assert all(refs) and len(set(refs)) == len(refs), f"{where}: refIds {refs}"
            for t in p["targets"]:
                assert resolve_uid(t.get("datasource"), d, sources) in sources, f"{where}: target datasource"
            if p["type"] not in ("logs", "table", "piechart"):
                assert p["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
                assert p["fieldConfig"]["defaults"]["thresholds"]["steps"], f"{where}: no thresholds"
            x, w = p["gridPos"]["x"], p["gridPos"]["w"]
            assert 0 <= x and x + w <= 24, f"{where}: outside the 24-column grid"


def test_template_variables_defined_used_and_described():
    sources = datasources()
    for d in dashboards().values():
        defined = variables(d)
        for name, var in defined.items():
            assert var.get("description"), f"{d['uid']}: variable {name} has no description"
            if var["type"] == "query":
                assert resolve_uid(var["datasource"], d, sources) in sources, f"{d['uid']}: ${name} datasource"
            if var["type"] == "datasource":
                assert var["query"] in {s["type"] for s in sources.values()}, f"{d['uid']}: ${name} type"
        used = set().union(*(used_variables(t) for t in _query_texts(d)))
        used = {u for u in used if not u.startswith("__")}
        assert used <= set(defined), f"{d['uid']}: undefined variables {used - set(defined)}"
        assert set(defined) <= used, f"{d['uid']}: unused variables {set(defined) - used}"


def _query_texts(d: dict):
    for p in all_panels(d):
        ds = p.get("datasource")
        if isinstance(ds, dict):
            yield ds.get("uid", "")
        for t in p.get("targets", []):
            yield t.get("expr", "") or t.get("rawSql", "")
            if isinstance(t.get("datasource"), dict):
                yield t["datasource"].get("uid", "")
    for v in variables(d).values():
        q = v.get("query") or ""
        yield q.get("query", "") if isinstance(q, dict) else q
        if isinstance(v.get("datasource"), dict):
            yield v["datasource"].get("uid", "")


def test_dashboards_link_to_each_other():
    dashes = dashboards()
    for d in dashes.values():
        targets = {link["url"] for link in d["links"] if link["type"] == "link"}
        assert targets == {f"/d/{u}" for u in EXPECTED_UIDS - {d['uid']}}, d["uid"]
        assert "vigil" in d["tags"]


def test_recording_rules_used_exist():
    """A level:metric:operation name in a query must be recorded by prometheus/rules."""
    recorded = set()
    for path in (REPO / "prometheus" / "rules").glob("*/*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            recorded |= {r["record"] for r in group["rules"] if "record" in r}
    for q in queries():
        if q.kind != "prometheus":
            continue
        for name in re.findall(r"[a-zA-Z_][\w]*:[\w:]+", re.sub(r"\[[^\]]*\]", "", q.text)):
            assert name in recorded, f"{q.dashboard} / {q.panel}: {name} is not a recording rule"


def test_datasources_provisioning():
    doc = yaml.safe_load(DATASOURCES_FILE.read_text())
    assert doc["apiVersion"] == 1
    uids = [ds["uid"] for ds in doc["datasources"]]
    assert sorted(uids) == sorted(DATASOURCE_UIDS) and len(set(uids)) == len(uids)
    by_uid = {ds["uid"]: ds for ds in doc["datasources"]}
    assert [u for u, ds in by_uid.items() if ds.get("isDefault")] == ["prometheus"]
    ex = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "jaeger"}.items() <= ex[0].items()
    derived = by_uid["loki"]["jsonData"]["derivedFields"]
    assert [(f["name"], f["datasourceUid"], f["matcherType"], f["matcherRegex"]) for f in derived] == \
        [("trace_id", "jaeger", "label", "trace_id")]
    assert derived[0]["url"] == "${__value.raw}".replace("$", "$$")
    t2l = by_uid["jaeger"]["jsonData"]["tracesToLogsV2"]
    assert t2l["datasourceUid"] == "loki" and "$${__trace.traceId}" in t2l["query"]
    assert by_uid["alertmanager"]["jsonData"]["implementation"] == "prometheus"
    pg = by_uid["postgres"]
    assert pg["jsonData"]["database"] == "vigil" and pg["user"] == "${GRAFANA_DB_USER}"


def test_datasource_hosts_are_compose_services_and_dollars_escaped():
    services = compose_services()
    for ds in datasources().values():
        host, port = re.match(r"(?:https?://)?([\w-]+):(\d+)", ds["url"]).groups()
        assert host in services, f"{ds['uid']}: {host} is not a Compose service"
        svc = services[host]
        listed = " ".join(str(x) for x in svc.get("expose", []) + svc.get("ports", []))
        assert port in listed or host in ("postgres",), f"{ds['uid']}: port {port} not exposed by {host}"
    grafana_env = services["grafana"].get("environment", {})
    # Grafana expands $NAME, ${NAME} and $__file{...}: any other single "$" is a bug.
    text = "\n".join(line.split("#")[0] for line in DATASOURCES_FILE.read_text().splitlines())
    for m in re.finditer(r"(?<!\$)\$(?!\$)(\{?)([\w]+)", text.replace("$$", "")):
        name = m.group(2)
        assert name == "__file" or name in grafana_env, f"${name} is not set in grafana's environment"
    secrets = {s["source"] if isinstance(s, dict) else s for s in services["grafana"].get("secrets", [])}
    for path in re.findall(r"\$__file\{/run/secrets/([\w-]+)\}", text):
        assert path in secrets, f"secret {path} is not given to the grafana service"


def test_dashboard_provider():
    doc = yaml.safe_load(PROVIDERS_FILE.read_text())
    assert doc["apiVersion"] == 1
    providers = doc["providers"]
    folders = {p["options"]["path"].rsplit("/", 1)[1] for p in providers}
    assert folders == {p.name for p in DASHBOARD_DIR.iterdir() if p.is_dir()}
    dash_uids = EXPECTED_UIDS
    for p in providers:
        assert p["type"] == "file" and p["allowUiUpdates"] is False, p["name"]
        assert p["folderUid"] not in dash_uids, "folder and dashboard uids share one namespace"
    assert len({p["folder"] for p in providers}) == len(providers)
    mount = [v for v in compose_services()["grafana"]["volumes"] if v.startswith("./grafana/dashboards:")]
    assert mount, "grafana/dashboards is not mounted in docker-compose.yml"
    target = mount[0].split(":")[1]
    assert all(p["options"]["path"].startswith(target + "/") for p in providers)


def test_docs_list_every_dashboard():
    text = (REPO / "docs" / "dashboards.md").read_text()
    for uid in EXPECTED_UIDS:
        assert f"/d/{uid}" in text, f"docs/dashboards.md does not mention {uid}"


@pytest.mark.parametrize("kind", ["prometheus", "loki", "grafana-postgresql-datasource"])
def test_each_datasource_kind_is_queried(kind):
    assert any(q.kind == kind for q in queries()), kind
