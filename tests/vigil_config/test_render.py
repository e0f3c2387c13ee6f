"""`make render`: everything generic follows vigil.toml, rendering is idempotent, nothing stale is committed.

Runs `python3 -m render` (the system Python, standard library only) on the committed tree (--check) and on
temporary copies of the repository; promtool 3.5 (make tools) checks and unit-tests what a copy renders
for a service added to vigil.toml alone.
"""
from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from harness import REPO
from harness.monitoring import binary

# What render/ reads or writes; a copy of these is a repository as far as `python3 -m render` can tell.
PARTS = ["render", "vigil.toml", "prometheus", "grafana", "deploy", "alertmanager", "docs/runbooks"]
SHOP = '''
[[service]]
name = "shop"
scrape = "static"
targets = ["host.docker.internal:8080"]

[service.slo]
availability = 0.995
latency_threshold = 0.5
latency_objective = 0.95
'''
# A service that pushes OTLP: no scrape job; down = no target_info for 5 minutes.
PUSHER = '''
[[service]]
name = "pusher"
scrape = "otlp"

[service.slo]
availability = 0.99
latency_threshold = 0.25
latency_objective = 0.95
'''


def render(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["python3", "-m", "render", *args], cwd=root, capture_output=True, text=True, timeout=120)


def copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for part in PARTS:
        src, dst = REPO / part, root / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return root


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_committed_files_are_what_vigil_toml_renders():
    result = render(REPO, "--check")
    assert result.returncode == 0, result.stderr


def test_rendering_twice_changes_nothing_and_says_so(tmp_path):
    root = copy(tmp_path)
    (root / "vigil.toml").write_text((root / "vigil.toml").read_text() + SHOP)
    first = render(root)
    assert first.returncode == 0, first.stderr
    written = [line.removeprefix("wrote ") for line in first.stdout.splitlines() if line.startswith("wrote ")]
    assert "prometheus/prometheus.yml" in written and "prometheus/rules/generic/services.yml" in written
    before = tree(root)
    second = render(root)
    assert second.returncode == 0, second.stderr
    assert "wrote" not in second.stdout, second.stdout   # "wrote" only for a changed file
    assert tree(root) == before
    assert render(root, "--check").returncode == 0


def test_a_service_added_to_vigil_toml_alone_reaches_every_generic_file(tmp_path):
    root = copy(tmp_path)
    (root / "vigil.toml").write_text((root / "vigil.toml").read_text() + SHOP + PUSHER)
    stale = render(root, "--check")
    assert stale.returncode == 1 and "prometheus/prometheus.yml" in stale.stderr
    assert render(root).returncode == 0
    config = yaml.safe_load((root / "prometheus" / "prometheus.yml").read_text())
    shop = next(j for j in config["scrape_configs"] if j["job_name"] == "shop")
    assert shop["static_configs"] == [{"targets": ["host.docker.internal:8080"]}]
    alerts = {r["alert"]: r for g in yaml.safe_load((root / "prometheus/rules/generic/services.yml").read_text())["groups"]
              for r in g["rules"] if "alert" in r}
    assert "pusher" not in {j["job_name"] for j in config["scrape_configs"]}
    assert alerts["BackendDown"]["expr"] == 'up{job=~"backend|shop"} == 0\nor absent_over_time(target_info{job="pusher"}[5m])'
    assert alerts["TargetDown"]["expr"] == 'up{job!~"backend|pusher|shop"} == 0'
    for name in ("overview", "infrastructure"):
        dash = json.loads((root / "grafana/dashboards/generic" / f"{name}.json").read_text())
        service = next(v for v in dash["templating"]["list"] if v["name"] == "service")
        assert [o["value"] for o in service["options"]] == ["backend", "shop", "pusher"]
    monitors = (root / "deploy/kubernetes/backend-monitoring.yaml").read_text()
    assert "Not here: shop, pusher" in monitors   # static addresses have no ServiceMonitor
    # The rendered config, rules and unit tests (a BackendDown case for shop and for pusher) pass promtool.
    prom = root / "prometheus"
    for args in (["check", "config", "--syntax-only", "prometheus.yml"],
                 ["test", "rules", "tests/generic/services.test.yml"]):
        result = subprocess.run([binary("promtool"), *args], cwd=prom, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load((prom / "tests/generic/services.test.yml").read_text())["tests"]
    assert any(s["series"] == 'up{job="shop", instance="shop:8000"}' for c in cases for s in c["input_series"])


def test_the_reference_service_renamed_in_vigil_toml_alone_leaves_no_job_backend_in_any_query(tmp_path):
    """The `job="backend"` of the committed rules and Kubernetes objects is vigil.toml's service name, rendered:
    rename the service there (its Compose service keeps its name) and no rendered matcher, job or label names
    "backend" any more; the renamed rules still pass their generated promtool unit tests."""
    root = copy(tmp_path)
    toml = (root / "vigil.toml").read_text()
    renamed = toml.replace('name = "backend" ', 'name = "orders" \ncompose_service = "backend"', 1)
    assert renamed != toml
    (root / "vigil.toml").write_text(renamed)
    assert render(root).returncode == 0
    named = re.compile(r'job\s*(?:=~?|!~?)\s*\\?"[^"]*\bbackend\b|job_name: *"?backend\b|\bjob: *"?backend\b')
    # Every rendered rule, test and object (they say GENERATED), and every dashboard (JSON has no comment).
    rendered = [p for part in ("prometheus", "deploy/kubernetes") for p in sorted((root / part).rglob("*"))
                if p.is_file() and "GENERATED" in p.read_text()[:300]] + sorted(root.glob("grafana/dashboards/**/*.json"))
    assert len(rendered) >= 15, rendered
    left = {str(p.relative_to(root)): m for p in rendered for m in named.findall(p.read_text())}
    assert not left, left
    slo = (root / "prometheus/rules/generic/slo.yml").read_text()
    assert 'http_server_request_duration_seconds_count{job="orders"}' in slo
    prom = root / "prometheus"
    for test in ("tests/generic/services.test.yml", "tests/generic/slo.test.yml"):
        result = subprocess.run([binary("promtool"), "test", "rules", test], cwd=prom, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_rendered_file_is_named(tmp_path):
    root = copy(tmp_path)
    path = root / "prometheus/rules/generic/thresholds.yml"
    path.write_text(path.read_text().replace("vector(0.01)", "vector(0.02)"))
    result = render(root, "--check")
    assert result.returncode == 1
    assert result.stderr.strip() == "render: out of date: prometheus/rules/generic/thresholds.yml (run `make render`)"
    assert not filecmp.cmp(path, REPO / "prometheus/rules/generic/thresholds.yml", shallow=False)
