"""Helpers that write Grafana's classic dashboard JSON model as plain dicts.

Targets (prom, loki, sql), panel() with per-type defaults, row(), template variables, and
dashboard(), which lays panels out left to right on the 24-column grid and adds the links bar.
Every dashboard module of this package builds its panels from these. Plain dicts rather than
grafana-foundation-sdk's typed builders: docs/dashboards.md, "Why hand-written builders", says why.
"""
from __future__ import annotations

SCHEMA_VERSION = 39  # Grafana 11.x-13.x read it without migration prompts

PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "loki"}
PG = {"type": "grafana-postgresql-datasource", "uid": "postgres"}

# Dashboards: uid -> (title, folder, file name). The links bar of every dashboard lists them all.
# generic/: every configured service (vigil.toml), copy these; reference/: the reference backend's own
# business views, the example of adding yours.
DASHBOARDS = {
    "vigil-overview": ("Vigil / Service overview", "generic", "overview"),
    "vigil-infra": ("Vigil / Infrastructure", "generic", "infrastructure"),
    "vigil-logs": ("Vigil / Logs", "generic", "logs"),
    "vigil-llm": ("Vigil / LLM cost and usage", "reference", "llm"),
    "vigil-workflows": ("Vigil / Workflows and agents", "reference", "workflows"),
    "vigil-security": ("Vigil / Security", "reference", "security"),
    "vigil-business": ("Vigil / Business analytics", "reference", "business"),
}

# Levels of log lines worth an "errors" panel, as alloy/config.alloy spells them.
ERROR_LEVELS = "error|critical|fatal|panic"


# --- targets ------------------------------------------------------------------------------
def prom(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series",
         exemplar: bool = False) -> dict:
    """``exemplar``: Grafana asks Prometheus for the exemplars of the query's series (trace ids as dots that
    link to Jaeger). Recording rules carry none: only a query over the raw ``_bucket`` series has them."""
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "range": not instant,
         "instant": instant, "format": fmt}
    if exemplar:
        t["exemplar"] = True
    return t


def loki(expr: str, legend: str = "") -> dict:
    return {"datasource": LOKI, "expr": expr, "legendFormat": legend, "queryType": "range"}


def sql(raw: str, fmt: str = "table") -> dict:
    return {"datasource": PG, "rawSql": " ".join(raw.split()), "format": fmt, "rawQuery": True,
            "editorMode": "code"}


# --- panels -------------------------------------------------------------------------------
def thresholds(*steps) -> dict:
    """thresholds(("green", None), ("red", 0.05)): colour from each value upwards."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


OK = thresholds(("green", None))


def panel(kind: str, title: str, description: str, targets: list, unit: str = "short",
          w: int = 12, h: int = 8, steps: dict | None = None, stack: bool = False,
          lo=None, hi=None, mappings: list | None = None, options: dict | None = None,
          custom: dict | None = None) -> dict:
    ds = targets[0]["datasource"] if targets else PROM
    defaults = {"unit": unit, "thresholds": steps or OK, "color": {"mode": "palette-classic"}}
    if steps or kind in ("stat", "gauge", "bargauge"):
        defaults["color"] = {"mode": "thresholds"}
    if lo is not None:
        defaults["min"] = lo
    if hi is not None:
        defaults["max"] = hi
    if mappings:
        defaults["mappings"] = mappings
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 25 if stack else 10,
                              "showPoints": "never", "spanNulls": False,
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
        if steps:
            defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
    if custom:
        defaults.setdefault("custom", {}).update(custom)
    opts = {
        "timeseries": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                       "tooltip": {"mode": "multi", "sort": "desc"}},
        "stat": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "value", "graphMode": "area", "textMode": "auto", "justifyMode": "auto"},
        "gauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                  "showThresholdMarkers": True},
        "bargauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "orientation": "horizontal", "displayMode": "gradient"},
        "piechart": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "pieType": "donut", "legend": {"displayMode": "table", "placement": "right",
                                                    "values": ["value", "percent"], "showLegend": True}},
        "table": {"showHeader": True, "cellHeight": "sm"},
        "logs": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending",
                 "enableLogDetails": True, "dedupStrategy": "none"},
        "heatmap": {"calculate": False, "yAxis": {"unit": unit}, "cellGap": 1,
                    "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64}},
        "barchart": {"orientation": "horizontal", "showValue": "auto", "xTickLabelRotation": 0,
                     "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}},
    }.get(kind, {})
    opts.update(options or {})
    targets = [{"refId": chr(ord("A") + i), **t} for i, t in enumerate(targets)]
    p = {"type": kind, "title": title, "description": description, "datasource": ds,
         "gridPos": {"w": w, "h": h}, "fieldConfig": {"defaults": defaults, "overrides": []},
         "options": opts, "targets": targets}
    if kind == "table" and targets and targets[0]["datasource"] is PROM:
        # Instant vectors as rows: merge the queries and drop the timestamp column.
        # Several queries: their value columns are "Value #<refId>"; name them by their legend.
        names = {f"Value #{t['refId']}": t["legendFormat"] for t in targets} if len(targets) > 1 else {}
        p["transformations"] = [{"id": "merge", "options": {}},
                                {"id": "organize", "options": {"excludeByName": {"Time": True},
                                                               "renameByName": names}}]
    return p


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


# --- variables ----------------------------------------------------------------------------
def ds_var() -> dict:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0, "refresh": 1,
            "regex": "", "description": "Prometheus datasource the panels query."}


def query_var(name: str, label: str, query: str, description: str, multi: bool = True,
              default: str | None = None, ds: dict = PROM) -> dict:
    """A variable filled from label values. multi: "All" matches everything (allValue .*)."""
    v = {"name": name, "label": label, "type": "query", "datasource": ds,
         "query": {"query": query, "refId": f"{name}-values"} if ds is PROM else query,
         "definition": query, "refresh": 2, "sort": 1, "hide": 0, "regex": "",
         "description": description, "multi": multi, "includeAll": multi}
    if multi:
        if ds is LOKI:  # Loki refuses a selector whose matchers all match the empty value
            v["allValue"] = ".+"
        elif ds is not PG:  # SQL: "All" expands to every value, quoted: tenant IN ('a','b')
            v["allValue"] = ".*"
        v["current"] = {"text": ["All"], "value": ["$__all"]}
    else:
        v["current"] = {"text": default, "value": default}
    return v


def custom_var(name: str, label: str, values: list[str], description: str) -> dict:
    return {"name": name, "label": label, "type": "custom", "query": ",".join(values), "multi": True,
            "includeAll": True, "allValue": ".*", "hide": 0, "description": description,
            "current": {"text": ["All"], "value": ["$__all"]},
            "options": [{"text": v, "value": v, "selected": False} for v in values]}


def text_var(name: str, label: str, description: str) -> dict:
    return {"name": name, "label": label, "type": "textbox", "query": "", "hide": 0,
            "current": {"text": "", "value": ""}, "description": description}


# The services of vigil.toml (names = Prometheus jobs); configure() sets them before the dashboards are built.
SERVICES: list[str] = []


def configure(cfg) -> None:
    """Take the monitored services from a render.config.Config (grafana/generate.py and `make render` call it)."""
    SERVICES[:] = [s.name for s in cfg.services]


def service_var(default: str | None = None) -> dict:
    """$service: one of the services of vigil.toml, the job label every service panel selects."""
    if not SERVICES:
        raise RuntimeError("no services: call configure(render.config.load()) before building a dashboard")
    default = default or SERVICES[0]
    return {"name": "service", "label": "Service", "type": "custom", "query": ",".join(SERVICES),
            "multi": False, "includeAll": False, "hide": 0,
            "description": "A service of vigil.toml (its Prometheus job). Add one there and run make render.",
            "current": {"text": default, "value": default},
            "options": [{"text": s, "value": s, "selected": s == default} for s in SERVICES]}


# --- dashboard ----------------------------------------------------------------------------
def dashboard(uid: str, description: str, tags: list[str], items: list[dict], variables: list[dict],
              time_from: str = "now-1h", refresh: str = "30s") -> dict:
    title = DASHBOARDS[uid][0]
    panels, x, y, line_h = [], 0, 0, 0
    for pid, item in enumerate(items, start=1):
        w, h = item["gridPos"]["w"], item["gridPos"]["h"]
        if item["type"] == "row" or x + w > 24:  # new line
            x, y, line_h = 0, y + line_h, 0
        item = {"id": pid, **item, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        panels.append(item)
        x, line_h = x + w, max(line_h, h)
        if item["type"] == "row":
            x, y, line_h = 0, y + h, 0
    links = [{"title": "Vigil dashboards", "type": "dashboards", "tags": ["vigil"], "asDropdown": True,
              "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
              "tooltip": "", "url": ""}]
    links += [{"title": DASHBOARDS[other][0].split(" / ")[1], "type": "link", "url": f"/d/{other}",
               "keepTime": True, "includeVars": False, "asDropdown": False, "targetBlank": False,
               "icon": "dashboard", "tooltip": DASHBOARDS[other][0], "tags": []}
              for other in DASHBOARDS if other != uid]
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil", *tags],
        "editable": False, "graphTooltip": 1, "timezone": "browser", "schemaVersion": SCHEMA_VERSION,
        "version": 1, "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "links": links, "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "templating": {"list": variables}, "panels": panels,
    }


def process_panels(sel: str) -> list[dict]:
    """Connection pool and unhandled exceptions of a service (overview and infrastructure).

    Both come from Vigil's package: the pool gauges once the app calls observability.db.instrument_engine."""
    none = 'label_replace(vector(0), "exception_type", "none", "", "")'  # a 0 line until the first one
    return [
        panel("timeseries", "Database connection pool", "Connections the service has checked out of its "
              "SQLAlchemy pool, against the most the pool may open (size + overflow). At the limit, requests "
              "wait for a connection.",
              [prom(f"sum(db_pool_connections_in_use{{{sel}}})", "in use"),
               prom(f"sum(db_pool_connections_max{{{sel}}})", "max")], "short", w=12),
        panel("timeseries", "Unhandled exceptions", "Exceptions that escaped a request handler (answered 500), "
              "per interval and class; the logs panel shows their tracebacks.",
              [prom(f"sum by (exception_type) (increase(app_unhandled_exceptions_total{{{sel}}}"
                    f"[$__rate_interval])) or on () {none}", "{{exception_type}}")], "short", w=12,
              steps=thresholds(("green", None), ("red", 1))),
    ]
