"""Alert thresholds are the constants of prometheus/rules/generic/thresholds.yml, and the unit tests notice
when one moves.

Runs: promtool (3.13, make tools) `test rules` on copies of prometheus/
whose constants were moved past every test's input: first so that no alert can fire, then so that
every alert fires at once. Each alert that reads a constant must then fail one of its unit tests.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from harness import promrules
from harness.monitoring import binary

THRESHOLDS = promrules.RULES_DIR / "generic" / "thresholds.yml"
CONSTANT = re.compile(r"\bvigil:[a-z0-9_]+:constant\b")


def constants() -> dict[str, float]:
    group, = yaml.safe_load(THRESHOLDS.read_text())["groups"]
    out = {}
    for rule in group["rules"]:
        value = re.fullmatch(r"vector\(([0-9.eE+-]+)\)", rule["expr"].strip())
        assert value, f"{rule['record']}: a constant is vector(<number>)"
        out[rule["record"]] = float(value.group(1))
    return out


def alerts_reading_constants() -> dict[str, set[str]]:
    return {r["alert"]: set(CONSTANT.findall(r["expr"])) for r in promrules.alerting_rules()
            if CONSTANT.search(r["expr"])}


def test_each_constant_is_defined_once_and_read_by_an_alert():
    defined = [r["record"] for r in promrules.recording_rules() if r["record"].endswith(":constant")]
    assert len(defined) == len(set(defined)) == len(constants()), "constants live in thresholds.yml only"
    read = set().union(*alerts_reading_constants().values())
    assert read <= set(defined), f"alerts read undefined constants: {read - set(defined)}"
    assert not set(defined) - read, f"constants no alert reads: {set(defined) - read}"


@pytest.mark.parametrize("alert", sorted(alerts_reading_constants()))
def test_description_quotes_the_constant_instead_of_restating_it(alert):
    rule = next(r for r in promrules.alerting_rules() if r["alert"] == alert)
    text = rule["annotations"]["description"]
    for name in alerts_reading_constants()[alert]:
        assert f'query "{name}"' in text, f"{alert}: the description should print {name}"
    assert not re.search(r"threshold \d|objective of \d|budget of \$\d", text), f"{alert} restates a number"


def failing_alerts(values: dict[str, float]) -> str:
    """promtool's report on a copy of prometheus/ with the constants set to `values`."""
    with tempfile.TemporaryDirectory(prefix="vigil-thresholds-") as tmp:
        root = Path(tmp) / "prometheus"
        shutil.copytree(promrules.PROMETHEUS_DIR, root)
        text = THRESHOLDS.read_text()
        for name, value in values.items():
            text, n = re.subn(rf"(record: {re.escape(name)}\n\s+expr: )vector\([^)]*\)", rf"\g<1>vector({value!r})",
                              text)
            assert n == 1, name
        (root / "rules" / "generic" / "thresholds.yml").write_text(text)
        # Only the cases of alerts that read a constant (the SLO cases over days are slow).
        files = []
        for path in sorted((root / "tests").glob("*/*.yml")):
            suite = yaml.safe_load(path.read_text())
            suite["tests"] = [{k: v for k, v in case.items() if k != "promql_expr_test"} for case in suite["tests"]
                              if {c["alertname"] for c in case.get("alert_rule_test", [])} & set(alerts_reading_constants())]
            if suite["tests"]:
                path.write_text(yaml.safe_dump(suite, sort_keys=False))
                files.append(str(path.relative_to(root)))
        result = subprocess.run([binary("promtool"), "test", "rules", *files], cwd=root, capture_output=True,
                                text=True, timeout=300)
        return result.stdout + result.stderr


def is_lower_bound(name: str) -> bool:
    return "_min" in name


@pytest.mark.parametrize("direction", ["never fire", "always fire"])
def test_moving_a_constant_breaks_the_alerts_tests(direction):
    """Firing tests must stop firing when thresholds move out of reach, silent tests must fire when
    they move to nothing: proof the alerts compare against the constants and the tests sit near them."""
    out_of_reach = direction == "never fire"
    values = {}
    for name in constants():
        lower = is_lower_bound(name)
        values[name] = (0.0 if lower else 1e9) if out_of_reach else (1e9 if lower else -1.0)
    report = failing_alerts(values)
    # Each failure reads "alertname: X, time: T, exp:[...], got:[...]"; the printed threshold changes
    # too, so count only failures where alerts went missing (never fire) or appeared (always fire).
    failed = set()
    for block in report.split("alertname: ")[1:]:
        alert = block.split(",", 1)[0]
        expected, _, got = block.partition("got:")
        gone = got.count("Labels:") < expected.count("Labels:")
        came = got.count("Labels:") > expected.count("Labels:")
        if gone if out_of_reach else came:
            failed.add(alert)
    missing = sorted(set(alerts_reading_constants()) - failed)
    assert not missing, f"with every threshold set to {direction}, these alerts' tests still pass: {missing}"
