"""Read the committed dashboards and datasources, and expand queries the way Grafana does.

No test here: the test modules of this folder share these helpers.
"""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from harness import REPO

GRAFANA = REPO / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "datasources.yml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"


def load_generator():
    """grafana/generate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("vigil_grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def datasources() -> dict[str, dict]:
    """Provisioned datasources by uid."""
    doc = yaml.safe_load(DATASOURCES_FILE.read_text())
    return {ds["uid"]: ds for ds in doc["datasources"]}


def dashboards() -> dict[Path, dict]:
    """The dashboards with panels and queries (not the runbooks folder: one markdown panel each)."""
    return {p: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*/*.json"))
            if p.parent.name != "runbooks"}


def all_panels(dash: dict) -> list[dict]:
    """Every panel, rows' nested panels included."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def variables(dash: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def resolve_uid(ref, dash: dict, sources: dict[str, dict]) -> str | None:
    """The provisioned uid a datasource reference points at (through a datasource variable)."""
    if ref is None:
        return None
    uid = ref.get("uid") if isinstance(ref, dict) else ref
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid or "")
    if m:
        var = variables(dash).get(m.group(1))
        if not var or var["type"] != "datasource":
            return None
        value = var.get("current", {}).get("value")
        if value in sources and sources[value]["type"] == var["query"]:
            return value
        # No usable default: Grafana picks the first datasource of that type.
        matches = [u for u, s in sources.items() if s["type"] == var["query"]]
        return matches[0] if matches else None
    return uid


@dataclass
class Query:
    dashboard: str      # dashboard uid
    panel: str          # panel title
    kind: str           # datasource type: prometheus, loki, grafana-postgresql-datasource
    text: str           # expr or rawSql as written in the JSON
    instant: bool
    fmt: str


def queries(sources: dict[str, dict] | None = None) -> list[Query]:
    """Every query of every panel of every dashboard, with its datasource type."""
    sources = sources or datasources()
    out = []
    for dash in dashboards().values():
        for panel in all_panels(dash):
            for t in panel.get("targets", []):
                uid = resolve_uid(t.get("datasource") or panel.get("datasource"), dash, sources)
                kind = sources[uid]["type"] if uid in sources else f"unknown:{uid}"
                text = t.get("expr") if "expr" in t else t.get("rawSql", "")
                out.append(Query(dash["uid"], panel["title"], kind, text, bool(t.get("instant")),
                                 t.get("format", "time_series")))
    return out


VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
DURATION_RE = re.compile(r"now-(\d+)([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def range_seconds(dash: dict) -> int:
    m = DURATION_RE.fullmatch(dash["time"]["from"])
    return int(m.group(1)) * UNITS[m.group(2)]


def scrape_interval_seconds(sources: dict[str, dict]) -> int:
    """The Prometheus datasource's timeInterval, Grafana's floor for $__interval."""
    value = sources["prometheus"].get("jsonData", {}).get("timeInterval", "15s")
    return int(value[:-1]) * UNITS[value[-1]]


def interval_seconds(dash: dict, sources: dict[str, dict], max_points: int = 1000) -> int:
    """$__interval: range / data points, rounded up to whole seconds, never below timeInterval."""
    return max(scrape_interval_seconds(sources), -(-range_seconds(dash) // max_points))


def expand(text: str, dash: dict, sources: dict[str, dict], values: dict[str, list[str]] | None = None,
           kind: str = "prometheus") -> str:
    """Substitute Grafana's built-in and template variables as Grafana would.

    Built-ins: $__interval, $__rate_interval (max(interval + scrape interval, 4 x scrape interval)),
    $__range. Template variables take their default: a single value, or "All" = allValue
    (regex) or, with no allValue, every value of ``values[name]`` (SQL: quoted and comma separated).
    """
    values = values or {}
    scrape = scrape_interval_seconds(sources)
    interval = interval_seconds(dash, sources)
    builtins = {"__interval": f"{interval}s", "__rate_interval": f"{max(interval + scrape, 4 * scrape)}s",
                "__range": f"{range_seconds(dash)}s", "__range_s": str(range_seconds(dash))}
    variables_ = variables(dash)

    def value_of(name: str, fmt: str | None) -> str:
        if name in builtins:
            return builtins[name]
        var = variables_.get(name)
        if var is None:
            raise KeyError(f"variable ${name} is not defined in dashboard {dash['uid']}")
        current = var.get("current", {}).get("value")
        if var["type"] == "datasource":
            return resolve_uid({"uid": f"${name}"}, dash, sources)
        chosen = current if isinstance(current, list) else [current]
        if chosen == ["$__all"]:
            if "allValue" in var:
                return var["allValue"]
            chosen = values.get(name) or [o["value"] for o in var.get("options", [])]
            if not chosen:
                raise KeyError(f"no values known for ${name} (All) in {dash['uid']}")
        if kind == "grafana-postgresql-datasource" or fmt == "sqlstring":
            return ",".join("'" + str(c).replace("'", "''") + "'" for c in chosen)
        if len(chosen) == 1:
            return re.escape(str(chosen[0])) if fmt == "regex" else str(chosen[0])
        return "(" + "|".join(re.escape(str(c)) for c in chosen) + ")"

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        if name.startswith("__") and name not in builtins:
            return m.group(0)  # SQL macros such as $__timeFilter are handled by sql_macros()
        return value_of(name, m.group(2))

    return VAR_RE.sub(sub, text)


def sql_macros(text: str, dash: dict, now: datetime | None = None) -> str:
    """Grafana's PostgreSQL macros for the dashboard's time range (the ones the dashboards use)."""
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(seconds=range_seconds(dash))
    fmt = "%Y-%m-%dT%H:%M:%SZ"

    def time_filter(m: re.Match) -> str:
        return f"{m.group(1)} BETWEEN '{start.strftime(fmt)}' AND '{now.strftime(fmt)}'"

    text = re.sub(r"\$__timeFilter\(([^)]+)\)", time_filter, text)
    text = text.replace("$__timeFrom()", f"'{start.strftime(fmt)}'").replace("$__timeTo()", f"'{now.strftime(fmt)}'")
    if "$__" in text:
        raise ValueError(f"unsupported Grafana SQL macro in: {text}")
    return text


def used_variables(text: str) -> set[str]:
    return {m.group(1) or m.group(3) or m.group(4) for m in VAR_RE.finditer(text)} - {None}
