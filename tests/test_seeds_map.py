"""docs/seeds.md, the map from the design documents to Vigil, names only things that exist.

Real programs: PostgreSQL 15 and redis-server (harness), the backend (uvicorn) on them, which runs one
workflow and is then asked for its /metrics and for every endpoint the map names; promtool (3.13)
checks that every PromQL equivalent of the map parses. Rules and panels are read from
prometheus/rules and the generated Grafana dashboards.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from backend.helpers import request, run_workflow, scrape
from harness import REPO, promrules
from harness.monitoring import binary

MAP = REPO / "docs" / "seeds.md"
SEEDS = ("000", "001", "002", "003", "004")
REF = re.compile(r"\b(metric|rule|alert|panel|endpoint|file|PromQL) `([^`]+)`")
# Series of exporters and of the runtime collectors: not defined in the backend's metrics module.
FOREIGN_PREFIXES = ("node_", "pg_", "redis_", "process_", "python_")


def sections() -> dict[str, str]:
    """{"000": text of that seed's section, ...}"""
    parts = re.split(r"^## ", MAP.read_text(), flags=re.M)[1:]
    return {p[:3]: p for p in parts}


def references(kind: str) -> list[str]:
    return [name for k, name in REF.findall(MAP.read_text()) if k == kind]


def rows(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            out.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return out[1:]  # the header


def test_every_seed_has_a_table_with_three_filled_columns():
    found = sections()
    assert sorted(found) == list(SEEDS), "one section per design document, 000 to 004"
    for seed, text in found.items():
        table = rows(text)
        assert len(table) >= 10, f"seed {seed}: only {len(table)} rows"
        for row in table:
            assert len(row) == 3 and all(row), f"seed {seed}: row {row[0][:60]!r} needs 3 filled cells"
            assert REF.search(row[1]) or "not built" in row[1] or "no counterpart" in row[1], \
                f"seed {seed}: {row[0][:60]!r} names nothing in Vigil and does not say it is missing"


def test_renamed_metrics_come_with_their_promql():
    """A row mapping a document's metric to series of other names gives the query (or recorded rule)."""
    missing = []
    for seed, text in sections().items():
        for req, vigil, _ in rows(text):
            asked = re.match(r"`([a-z_]+)(?:\{[^`]*)?`", req)
            metrics = re.findall(r"metric `([a-z_0-9]+)`", vigil)
            if asked and metrics and asked.group(1) not in metrics and not re.search(r"(PromQL|rule) `", vigil):
                missing.append(f"{seed}: {asked.group(1)}")
    assert not missing, f"renamed without a PromQL equivalent: {missing}"


def test_rules_and_alerts_exist():
    recorded = {r["record"] for r in promrules.recording_rules()}
    alerts = {r["alert"] for r in promrules.alerting_rules()}
    for name in references("rule"):
        assert name in recorded | alerts, f"rule {name} is in no file of prometheus/rules"
    for name in references("alert"):
        assert name in alerts, f"alert {name} is in no file of prometheus/rules"


def dashboard_panels() -> set[str]:
    out = set()

    def walk(uid, panels):
        for p in panels:
            if p.get("type") != "row":
                out.add(f"{uid} › {p['title']}")
            walk(uid, p.get("panels", []))
    for path in (REPO / "grafana" / "dashboards").rglob("*.json"):
        dash = json.loads(path.read_text())
        walk(dash["uid"], dash["panels"])
    return out


def test_panels_exist():
    panels = dashboard_panels()
    named = references("panel")
    assert len(named) >= 30
    missing = sorted(set(named) - panels)
    assert not missing, f"panels not in grafana/dashboards: {missing}"


def test_files_exist():
    for name in references("file"):
        assert (REPO / name).exists(), f"{name} does not exist"


def test_promql_equivalents_parse():
    queries = references("PromQL")
    assert len(queries) >= 15
    rules = {"groups": [{"name": "seeds-map", "rules": [{"record": f"seeds:map_{i}:promql", "expr": q}
                                                         for i, q in enumerate(queries)]}]}
    with tempfile.TemporaryDirectory(prefix="vigil-seeds-") as tmp:
        path = Path(tmp) / "map.yml"
        path.write_text(yaml.safe_dump(rules))
        result = subprocess.run([binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def live(postgres, redis_server, request):
    """A backend on PostgreSQL and Redis that has run one workflow: (base URL, /metrics text)."""
    from harness import start_backend
    name = "t_seeds_map"
    postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    proc = start_backend(env={"DATABASE_URL": postgres.create_database(name), "REDIS_URL": redis_server})
    request.addfinalizer(proc.stop)
    run_workflow(proc.base_url, {"name": "seeds", "input": "map the seeds"})
    return proc.base_url, scrape(proc.base_url)


def exposed_families(text: str) -> set[str]:
    """Names on /metrics, from its TYPE lines (labelled families appear before their first sample)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", text, re.M):
        names.add(name)
        if kind == "counter":
            names.add(name if name.endswith("_total") else name + "_total")
    return names


def test_metrics_are_defined_and_exposed(live):
    _, text = live
    exposed = exposed_families(text)
    defined = promrules.backend_metric_names()
    named = references("metric")
    assert len(named) >= 25
    for name in named:
        assert name in exposed, f"metric {name} is not on the backend's /metrics"
        if not name.startswith(FOREIGN_PREFIXES):
            family = re.sub(r"_(bucket|count|sum)$", "", name)
            assert {name, family + "_bucket", family + "_total"} & defined, f"{name} is not defined in metrics.py"


def test_promql_equivalents_name_real_series(live):
    _, text = live
    exposed = exposed_families(text)
    exposed |= {f"{n}_{s}" for n in exposed for s in ("bucket", "count", "sum")}
    for query in references("PromQL"):
        for name in promrules.metric_names(query):
            if name.startswith(FOREIGN_PREFIXES[:3]):
                continue  # exporters' series: the live dashboard and rule tests query them
            assert name in exposed, f"{query}: {name} is not on the backend's /metrics"


def test_endpoints_answer(live):
    base, _ = live
    named = references("endpoint")
    assert len(named) >= 5
    for ref in named:
        method, path = ref.split(" ", 1)
        assert method == "GET", f"{ref}: the map names read-only endpoints only"
        status, _, _ = request(method, base + path)
        assert status == 200, f"{ref} answered {status}"


def test_histograms_have_the_documents_bucket_edges(live):
    """Document 003's latency thresholds (0.3, 0.8, 1.5, 3 s) and workflows up to 300 s are bucket edges."""
    _, text = live

    def edges(name):
        return {float(le) for le in re.findall(rf'^{name}_bucket{{[^}}]*le="([^"]+)"', text, re.M)}
    for name in ("agent_execution_duration_seconds", "workflow_duration_seconds"):
        assert {0.3, 0.8, 1.5, 3.0, 300.0} <= edges(name), name
    assert {2.0, 5.0} <= edges("router_decision_duration_seconds"), "the 2 s routing threshold needs an edge above"
