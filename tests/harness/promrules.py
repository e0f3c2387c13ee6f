"""The shipped Prometheus rules and unit tests, read from prometheus/ (one place for the names)."""
from __future__ import annotations

import re

import yaml

from .services import BACKEND_DIR, REPO

PROMETHEUS_DIR = REPO / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
UNIT_TESTS_DIR = PROMETHEUS_DIR / "tests"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
# runbook_url = this prefix + <alertname>.md (docs/runbooks/ of this repository on GitHub).
# runbook_url is a Grafana path: the runbook's dashboard (runbook_uid of grafana/dashboards_src/runbooks.py),
# opened under GRAFANA_ROOT_URL by the Slack template.
RUNBOOK_URL_PREFIX = "/d/runbook-"

# PromQL words that look like metric names in an expression but are not.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
             "bool", "offset", "inf", "nan"}


def rule_files() -> dict[str, str]:
    """{path relative to prometheus/ (as prometheus.yml's rule_files glob names it): text}."""
    return {str(p.relative_to(PROMETHEUS_DIR)): p.read_text() for p in sorted(RULES_DIR.glob("*/*.yml"))}


def groups() -> list[dict]:
    out = []
    for path in sorted(RULES_DIR.glob("*/*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.append({**group, "file": path.name})
    return out


def recording_rules() -> list[dict]:
    return [r for g in groups() for r in g["rules"] if "record" in r]


def alerting_rules() -> list[dict]:
    return [r for g in groups() for r in g["rules"] if "alert" in r]


def unit_tests() -> list[dict]:
    """Every test case of prometheus/tests/*/*.yml, with the file it comes from."""
    cases = []
    for path in sorted(UNIT_TESTS_DIR.glob("*/*.yml")):
        for case in yaml.safe_load(path.read_text())["tests"]:
            cases.append({**case, "file": path.name})
    return cases


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, keywords, labels or recorded series)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)              # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                         # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)                        # range durations
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS or ":" in name:
            continue
        names.add(name)
    return names


# Where metrics are defined: the generic ones in the instrumentation package, the business ones in the app.
METRIC_MODULES = (BACKEND_DIR / "observability" / "metrics.py", BACKEND_DIR / "app" / "metrics.py")


def backend_metric_names() -> set[str]:
    """Series names the backend can expose (the files in METRIC_MODULES)."""
    text = "\n".join(path.read_text() for path in METRIC_MODULES)
    names = set()
    for kind, name in re.findall(r'\b(Counter|Gauge|Histogram)\(\s*"([a-z_:][a-z0-9_:]*)"', text):
        if kind == "Counter":
            names.add(name if name.endswith("_total") else name + "_total")
        elif kind == "Histogram":
            # The bare name is the same histogram in native form (pushed over OTLP): the rules read both.
            names.update({name, name + "_bucket", name + "_count", name + "_sum"})
        else:
            names.add(name)
    return names
