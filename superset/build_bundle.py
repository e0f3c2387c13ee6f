#!/usr/bin/env python3
"""Write superset/bundle/ (Superset's YAML export format, version 1.0.0) from superset/dashboards.py.

    python superset/build_bundle.py          regenerate superset/bundle/
    python superset/build_bundle.py --check  fail if superset/bundle/ is not what dashboards.py gives

The bundle holds one database (the Vigil database through the read-only role, password left out:
superset/import_bundle.py adds it from the environment), one virtual dataset per chart, the
charts and the eight dashboards. UUIDs derive from the titles, so regenerating is stable and a
re-import updates objects in place (renaming a chart creates a new one; delete the old in the UI).
Needs PyYAML only (the tests' venv and the Superset image both have it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dashboards import DASHBOARDS, Chart, Dashboard  # noqa: E402

BUNDLE = HERE / "bundle"
VERSION = "1.0.0"  # the export format's version (Superset 1.x .. 6.x)
NAMESPACE = uuid.UUID("5b0d2a52-7c1e-4e53-9a43-6c1f0f6c7a10")  # Vigil's; never change it
DATABASE_NAME = "Vigil"
# Placeholder URI; import_bundle.py replaces it with VIGIL_DB_URI and the password from the environment.
DATABASE_URI = "postgresql+psycopg2://grafana_reader:XXXXXXXXXX@postgres:5432/vigil"
VIZ = {"line": "echarts_timeseries_line", "bar": "echarts_timeseries_bar", "pie": "pie",
       "number": "big_number_total", "table": "table"}
TEMPORAL = {"TIMESTAMP", "DATE", "TIMESTAMP WITHOUT TIME ZONE"}


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def metric(column: str) -> dict:
    """An ad-hoc SQL metric: each dataset row is already one group, so MAX() returns its value."""
    return {"expressionType": "SQL", "sqlExpression": f"MAX({column})", "label": column,
            "hasCustomLabel": True, "optionName": f"metric_{column}"}


def form_data(chart: Chart) -> dict:
    """The chart's `params`, as Explore saves them for each visualisation."""
    base = {"viz_type": VIZ[chart.kind], "datasource": "0__table", "adhoc_filters": [], "extra_form_data": {},
            "dashboards": []}
    if chart.kind in ("line", "bar"):
        base.update(x_axis=chart.x, metrics=[metric(c) for c in chart.y], groupby=[], row_limit=10000,
                    show_legend=True, rich_tooltip=True, y_axis_format="SMART_NUMBER",
                    truncateXAxis=True, annotation_layers=[], comparison_type="values")
        if chart.kind == "line":
            base.update(time_grain_sqla="P1D", x_axis_time_format="smart_date", markerEnabled=True)
        else:
            base.update(orientation="vertical", x_axis_sort=chart.y[0], x_axis_sort_asc=False)
    elif chart.kind == "pie":
        base.update(groupby=[chart.x], metric=metric(chart.y[0]), row_limit=100, sort_by_metric=True,
                    show_labels=True, label_type="key_value_percent", show_legend=True)
    elif chart.kind == "number":
        base.update(metric=metric(chart.y[0]), y_axis_format="SMART_NUMBER", header_font_size=0.4,
                    subheader_font_size=0.15)
    elif chart.kind == "table":
        base.update(query_mode="raw", all_columns=[name for name, _ in chart.columns], order_by_cols=[],
                    row_limit=1000, server_pagination=False, table_timestamp_format="smart_date")
    else:
        raise ValueError(f"{chart.title}: unknown kind {chart.kind!r}")
    return base


def query_context(chart: Chart, params: dict) -> str:
    """What the chart-data API (and reports, thumbnails) run; the browser rebuilds it from params."""
    query: dict = {"filters": [], "extras": {"having": "", "where": ""}, "orderby": []}
    if chart.kind in ("line", "bar", "pie"):
        query.update(columns=[chart.x], metrics=params.get("metrics") or [params["metric"]], row_limit=10000)
    elif chart.kind == "number":
        query.update(columns=[], metrics=[params["metric"]], row_limit=1)
    else:
        query.update(columns=params["all_columns"], metrics=[], row_limit=1000)
    return json.dumps({"datasource": {"id": 0, "type": "table"}, "force": False, "queries": [query],
                       "form_data": params, "result_format": "json", "result_type": "full"}, sort_keys=True)


def dataset_yaml(dash: Dashboard, chart: Chart) -> dict:
    for kind_col in ([chart.x] if chart.x else []) + chart.y:
        assert kind_col in dict(chart.columns), f"{chart.title}: {kind_col} is not among its columns"
    columns = [{"column_name": name, "type": typ, "is_dttm": typ in TEMPORAL, "groupby": True,
                "filterable": True, "is_active": True, "expression": None, "verbose_name": None,
                "description": None, "python_date_format": None}
               for name, typ in chart.columns]
    temporal = [name for name, typ in chart.columns if typ in TEMPORAL]
    return {"table_name": f"{dash.title} / {chart.title}", "main_dttm_col": temporal[0] if temporal else None,
            "description": f"Chart '{chart.title}' of the dashboard '{dash.title}' (superset/dashboards.py).",
            "schema": "public", "sql": chart.sql.strip() + "\n", "params": None, "template_params": None,
            "filter_select_enabled": True, "extra": None, "normalize_columns": False,
            "always_filter_main_dttm": False, "uuid": uid("dataset", dash.slug, chart.title),
            "metrics": [], "columns": columns, "version": VERSION,
            "database_uuid": uid("database", DATABASE_NAME)}


def chart_yaml(dash: Dashboard, chart: Chart) -> dict:
    params = form_data(chart)
    return {"slice_name": chart.title, "description": chart.description or None, "viz_type": VIZ[chart.kind],
            "params": params, "query_context": query_context(chart, params), "cache_timeout": None,
            "uuid": uid("chart", dash.slug, chart.title), "version": VERSION,
            "dataset_uuid": uid("dataset", dash.slug, chart.title)}


def dashboard_yaml(dash: Dashboard) -> dict:
    """A header, then rows of charts (12 grid columns per row, in the order of dashboards.py)."""
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"id": "ROOT_ID", "type": "ROOT", "children": ["GRID_ID"]},
                      "GRID_ID": {"id": "GRID_ID", "type": "GRID", "children": [], "parents": ["ROOT_ID"]},
                      "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": dash.title}}}
    row, used = None, 12
    for i, chart in enumerate(dash.charts):
        if used + chart.width > 12:
            row, used = f"ROW-{len(position['GRID_ID']['children']) + 1}", 0
            position["GRID_ID"]["children"].append(row)
            position[row] = {"id": row, "type": "ROW", "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                             "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        key = f"CHART-{i + 1}"
        position[row]["children"].append(key)
        position[key] = {"id": key, "type": "CHART", "children": [], "parents": ["ROOT_ID", "GRID_ID", row],
                         "meta": {"chartId": i + 1, "uuid": uid("chart", dash.slug, chart.title),
                                  "sliceName": chart.title, "width": chart.width, "height": 50}}
        used += chart.width
    metadata = {"color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {},
                "label_colors": {}, "shared_label_colors": [], "color_scheme_domain": [],
                "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                "native_filter_configuration": []}
    return {"dashboard_title": dash.title, "description": dash.description, "css": "", "slug": dash.slug,
            "uuid": uid("dashboard", dash.slug), "position": position, "metadata": metadata,
            "published": True, "version": VERSION}


def database_yaml() -> dict:
    return {"database_name": DATABASE_NAME, "sqlalchemy_uri": DATABASE_URI, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_csv_upload": False, "extra": {"allows_virtual_table_explore": True},
            "uuid": uid("database", DATABASE_NAME), "version": VERSION}


def render() -> dict[str, str]:
    """{relative path: YAML text} of the whole bundle."""
    files = {"metadata.yaml": {"version": VERSION, "type": "assets"},
             "databases/vigil.yaml": database_yaml()}
    slugs = set()
    for dash in DASHBOARDS:
        assert dash.slug not in slugs, f"duplicate dashboard slug {dash.slug}"
        slugs.add(dash.slug)
        files[f"dashboards/{dash.slug}.yaml"] = dashboard_yaml(dash)
        for chart in dash.charts:
            name = f"{dash.slug}__{slugify(chart.title)}"
            assert f"charts/{name}.yaml" not in files, f"duplicate chart title {chart.title}"
            files[f"datasets/vigil/{name}.yaml"] = dataset_yaml(dash, chart)
            files[f"charts/{name}.yaml"] = chart_yaml(dash, chart)
    header = "# Generated by superset/build_bundle.py from superset/dashboards.py: edit that file, not this one.\n"
    return {path: header + yaml.safe_dump(doc, sort_keys=True, allow_unicode=True, width=120)
            for path, doc in files.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    args = p.parse_args(argv)
    wanted = render()
    present = {str(f.relative_to(BUNDLE)): f.read_text() for f in BUNDLE.rglob("*.yaml")} if BUNDLE.is_dir() else {}
    if args.check:
        stale = sorted(k for k in wanted.keys() | present.keys() if wanted.get(k) != present.get(k))
        if stale:
            print("superset/bundle is stale (run `make superset-bundle`):\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print(f"superset/bundle is up to date ({len(wanted)} files)")
        return 0
    for rel in present.keys() - wanted.keys():
        (BUNDLE / rel).unlink()
    for rel, text in wanted.items():
        (BUNDLE / rel).parent.mkdir(parents=True, exist_ok=True)
        (BUNDLE / rel).write_text(text)
    print(f"wrote {len(wanted)} files to {BUNDLE.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
