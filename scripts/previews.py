#!/usr/bin/env python3
"""`make previews`: an image of each dashboard, docs/images/<dashboard uid>.png (no Grafana runs here).

Each image is drawn from the shipped dashboard JSON (grafana/dashboards/*/*.json: titles, gridPos layout,
panel types, units, legends) and the data of a short live demo: the harness of tests/grafana starts
PostgreSQL, Redis, the backend, its load generator, the exporters and a real Prometheus with the shipped
config and rules, exactly as the live panel test does; after PREVIEW_SECONDS (default 150) every Prometheus
query of every panel runs over the demo's time range (instant targets at its end), and every SQL query as
Grafana's read-only role (rows as tables, bars or slices). Loki panels are drawn as labelled placeholders. Every image says it is a preview, and carries in a PNG tEXt chunk the
SHA-256 of the JSON it was drawn from: tests/grafana/test_previews.py fails when a dashboard changed since.
The runbook dashboards (one markdown panel each: docs/runbooks/*.md) get none.

Usage: .venv/bin/python scripts/previews.py [--seconds N]   (make previews installs matplotlib first)
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import sys
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "backend")]

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

from harness import http_get  # noqa: E402
from grafana.conftest import fresh_db, live_stack  # noqa: E402
from grafana.panels import all_panels, dashboards, datasources, expand, resolve_uid  # noqa: E402

IMAGES = REPO / "docs" / "images"
LABEL = "Preview drawn by Vigil from the dashboard JSON, not a Grafana screenshot"
HASH_KEY = "vigil-dashboard-sha256"   # tEXt chunk: SHA-256 of the dashboard JSON file's bytes
WIDTH_IN, UNIT_IN, DPI = 14.0, 0.33, 80   # 24 grid columns across WIDTH_IN; one gridPos row = UNIT_IN
MAX_SERIES = 8
COLOURS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0"]
BG, PANEL_BG, TEXT, MUTED = "#111217", "#181b1f", "#ccccdc", "#8e8e9e"


def dashboard_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- data ------------------------------------------------------------------------------------------

def prom(base: str, path: str, params: dict) -> list:
    code, body = http_get(f"{base}{path}?" + urllib.parse.urlencode(params), timeout=30)
    data = json.loads(body)
    if code != 200 or data.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {code} {body[:300]!r}")
    return data["data"]["result"]


def panel_kind(panel: dict, dash: dict, sources: dict) -> str:
    targets = panel.get("targets") or [{}]
    uid = resolve_uid(targets[0].get("datasource") or panel.get("datasource"), dash, sources)
    return sources[uid]["type"] if uid in sources else ""


def collect(base: str, start: float, end: float, sources: dict) -> dict:
    """{(dashboard uid, panel id): [(legend, [(t, v)...]) ...]} for every Prometheus panel."""
    step = max(2, int((end - start) // 150))
    out = {}
    for dash in dashboards().values():
        for panel in all_panels(dash):
            if panel["type"] == "row" or panel_kind(panel, dash, sources) != "prometheus":
                continue
            series = []
            for target in panel.get("targets", []):
                if "expr" not in target:
                    continue
                expr = expand(target["expr"], dash, sources)
                if target.get("instant") or panel["type"] in ("stat", "gauge", "bargauge", "piechart", "table"):
                    result = [{"metric": r["metric"], "values": [r["value"]]}
                              for r in prom(base, "/api/v1/query", {"query": expr, "time": end})]
                else:
                    result = prom(base, "/api/v1/query_range", {"query": expr, "start": start, "end": end,
                                                                "step": step})
                # A table shows label columns; other panels their legend.
                fmt = "" if panel["type"] == "table" else target.get("legendFormat", "")
                for r in result:
                    points = [(float(t) - start, float(v)) for t, v in r["values"] if math.isfinite(float(v))]
                    series.append((legend(fmt, r["metric"]), points))
            out[(dash["uid"], panel["id"])] = series
    return out


def collect_sql(db, end: float, sources: dict) -> dict:
    """{(dashboard uid, panel id): {"columns": [...], "rows": [[...]]}} for every SQL panel, run as Grafana's
    read-only role with the macros and variables expanded as tests/grafana/test_live_sql.py does."""
    import datetime as dt

    import psycopg2
    from grafana.conftest import APP
    from grafana.panels import sql_macros, variables

    now = dt.datetime.fromtimestamp(end, dt.timezone.utc)
    conn = psycopg2.connect(host=db.pg.host, port=db.pg.port, dbname=APP["APP_DB_NAME"],
                            user=APP["GRAFANA_DB_USER"], password=db.reader_password)
    conn.autocommit = True
    out = {}
    try:
        with conn.cursor() as cur:
            values = {}
            for dash in dashboards().values():
                for name, var in variables(dash).items():
                    if var["type"] == "query" and var["datasource"]["uid"] == "postgres":
                        cur.execute(var["query"])
                        values[name] = [r[0] for r in cur.fetchall()]
            for dash in dashboards().values():
                for panel in all_panels(dash):
                    kind = panel_kind(panel, dash, sources)
                    if panel["type"] == "row" or kind != "grafana-postgresql-datasource":
                        continue
                    target = panel["targets"][0]
                    cur.execute(sql_macros(expand(target["rawSql"], dash, sources, values=values, kind=kind),
                                           dash, now))
                    rows = [[c.strftime("%m-%d %H:%M") if isinstance(c, dt.datetime) else
                             float(c) if hasattr(c, "as_tuple") else c for c in row] for row in cur.fetchall()]
                    out[(dash["uid"], panel["id"])] = {"columns": [d[0] for d in cur.description], "rows": rows}
    finally:
        conn.close()
    return out


def sql_series(result: dict) -> list:
    """Rows as (name, [(0, value)]): the text columns name a row, its first number is the value."""
    series = []
    for row in result["rows"]:
        numbers = [c for c in row if isinstance(c, (int, float)) and not isinstance(c, bool)]
        name = "  ".join(str(c) for c in row if not isinstance(c, (int, float)) or isinstance(c, bool))
        if numbers:
            series.append((name or result["columns"][-1], [(0.0, float(numbers[-1]))]))
    return series


def legend(fmt: str, labels: dict) -> str:
    if fmt and fmt != "__auto":
        text = fmt
        for k, v in labels.items():
            text = text.replace("{{" + k + "}}", v).replace("{{ " + k + " }}", v)
        return text
    return ", ".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"


# --- drawing ---------------------------------------------------------------------------------------

def fmt_value(v: float, unit: str | None) -> str:
    if unit == "percentunit":
        return f"{v * 100:.4g} %"
    if unit == "currencyUSD":
        return f"${v:.4f}" if 0 < abs(v) < 0.01 else f"${v:,.2f}" if abs(v) < 1000 else f"${v:,.0f}"
    if unit == "s":
        if abs(v) < 0.001 and v:
            return f"{v * 1e6:.0f} µs"
        return f"{v * 1000:.1f} ms" if abs(v) < 0.01 else f"{v * 1000:.0f} ms" if abs(v) < 1 else f"{v:.2f} s"
    if unit in ("bytes", "Bps"):
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(v) < 1024:
                return f"{v:.3g} {suffix}" + ("/s" if unit == "Bps" else "")
            v /= 1024
    suffix = {"reqps": " req/s", "reqpm": " req/min", "ops": " ops/s"}.get(unit or "", "")
    for div, si in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{si}{suffix}"
    return (f"{v:.2f}" if abs(v) < 10 and v != int(v) else f"{v:.0f}") + suffix


def placeholder(ax, text: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, ha="center", va="center", color=MUTED, fontsize=8, style="italic", wrap=True,
            transform=ax.transAxes)


def draw_panel(ax, panel: dict, kind: str, series: list | None) -> None:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    ptype = panel["type"]
    ax.set_facecolor(PANEL_BG)
    ax.tick_params(colors=MUTED, labelsize=6, length=2)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if ptype == "text":
        return placeholder(ax, "text panel")
    if kind == "loki":
        return placeholder(ax, "Loki panel (log lines):\nnot drawn in this preview")
    if isinstance(series, dict):  # a SQL panel's rows
        if not series["rows"]:
            return placeholder(ax, "no rows in the demo run")
        if ptype == "table":
            lines = ["  ".join(f"{str(c)[:18]:<18}" for c in series["columns"])]
            lines += ["  ".join(f"{(fmt_value(c, None) if isinstance(c, float) else str(c))[:18]:<18}" for c in row)
                      for row in series["rows"][:8]]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.01, 0.97, "\n".join(lines), va="top", fontsize=6, family="monospace", color=TEXT,
                    transform=ax.transAxes)
            return None
        if ptype == "timeseries":
            ptype = "bargauge"  # a few day buckets of a short demo: bars say more than a line
        series = sql_series(series)
    elif kind and kind != "prometheus":
        return placeholder(ax, f"{kind} panel:\nnot drawn in this preview")
    if not series:
        return placeholder(ax, "no data in the demo run")
    series = series[:MAX_SERIES] if ptype not in ("table", "heatmap") else series
    series = [(" ".join(name.split()), points) for name, points in series]  # a statement's tabs and newlines
    if ptype in ("stat", "gauge"):
        shown = series[:4]
        for i, (name, points) in enumerate(shown):
            x = (i + 0.5) / len(shown)
            ax.text(x, 0.5, fmt_value(points[-1][1], unit) if points else "-", ha="center", va="center",
                    fontsize=15 if len(shown) == 1 else 10, color=COLOURS[i % len(COLOURS)], weight="bold",
                    transform=ax.transAxes)
            if len(shown) > 1:
                ax.text(x, 0.15, name[:24], ha="center", fontsize=6, color=MUTED, transform=ax.transAxes)
    elif ptype == "bargauge":
        names = [n[:28] for n, _ in series]
        values = [p[-1][1] if p else 0 for _, p in series]
        ax.barh(range(len(values)), values, color=COLOURS[: len(values)] or COLOURS[0])
        ax.set_yticks(range(len(values)), names)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(lambda v, _: fmt_value(v, unit))
    elif ptype == "piechart":
        values = [max(p[-1][1], 0) if p else 0 for _, p in series]
        if sum(values) <= 0:
            return placeholder(ax, "all zero in the demo run")
        ax.pie(values, colors=COLOURS, wedgeprops={"width": 0.45})
        ax.legend([n[:24] for n, _ in series], fontsize=5, loc="center left", bbox_to_anchor=(0.95, 0.5),
                  frameon=False, labelcolor=TEXT)
    elif ptype == "table":
        rows = [f"{n[:60]:<60}  {fmt_value(p[-1][1], unit) if p else '-':>10}" for n, p in series[:8]]
        more = f"\n... {len(series) - 8} more rows" if len(series) > 8 else ""
        ax.text(0.02, 0.95, "\n".join(rows) + more, va="top", fontsize=6, family="monospace", color=TEXT,
                transform=ax.transAxes)
    elif ptype == "heatmap":  # one row per bucket series, colour = value, over the demo run
        width = max(len(p) for _, p in series)
        rows = [[v for _, v in p] + [0.0] * (width - len(p)) for _, p in series]
        end_min = max(t for _, p in series for t, _ in p) / 60 if width else 1
        ax.imshow(rows, aspect="auto", origin="lower", cmap="inferno", extent=(0, end_min, 0, len(rows)))
        ax.set_yticks([])
        ax.set_xlabel("minutes into the demo", fontsize=5, color=MUTED, labelpad=1)
    else:  # timeseries: lines over the demo run
        for i, (name, points) in enumerate(series):
            if points:
                xs, ys = zip(*points)
                ax.plot([x / 60 for x in xs], ys, color=COLOURS[i % len(COLOURS)], linewidth=1, label=name[:40])
        ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, unit))
        ax.set_xlabel("minutes into the demo", fontsize=5, color=MUTED, labelpad=1)
        ax.grid(color="#2c3038", linewidth=0.5)
        if len(series) <= 5:
            ax.legend(fontsize=5, loc="upper left", frameon=False, labelcolor=TEXT)
    if ptype in ("stat", "gauge", "piechart", "table"):
        ax.set_xticks([])
        ax.set_yticks([])


def draw(dash: dict, data: dict, sources: dict) -> plt.Figure:
    header = 2.5  # grid units for the title and the preview label
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    total = bottom + header
    fig = plt.figure(figsize=(WIDTH_IN, total * UNIT_IN), facecolor=BG)
    fig.text(0.01, 1 - 0.9 / total, dash["title"], color=TEXT, fontsize=13, weight="bold", va="center")
    fig.text(0.99, 1 - 0.9 / total, LABEL, color="#f2cc0c", fontsize=9, ha="right", va="center", style="italic")
    fig.text(0.01, 1 - 1.8 / total, f"grafana uid {dash['uid']} · data: a {DEMO_MINUTES} min live demo "
             "(backend + load generator + Prometheus + PostgreSQL)", color=MUTED, fontsize=7, va="center")
    for panel in dash["panels"]:  # top level only: a collapsed row hides its panels, as in Grafana
        g = panel["gridPos"]
        left, width = g["x"] / 24, g["w"] / 24
        top = 1 - (header + g["y"]) / total
        height = g["h"] / total
        if panel["type"] == "row":
            fig.text(left + 0.005, top - height / 2, ("▸ " if panel.get("collapsed") else "▾ ") + panel["title"],
                     color=TEXT, fontsize=9, weight="bold", va="center")
            continue
        pad_x, pad_y = 0.003, 0.12 / total
        frame = fig.add_axes([left + pad_x, top - height + pad_y, width - 2 * pad_x, height - 2 * pad_y])
        frame.set_facecolor(PANEL_BG)
        frame.set_xticks([])
        frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_color("#2c3038")
        title_h = 0.55 / total
        frame.text(0.01, 1 - (title_h / 2) / (height - 2 * pad_y), panel.get("title", "")[:70], fontsize=7,
                   color=TEXT, va="center", transform=frame.transAxes)
        inner_h = height - 2 * pad_y - title_h - 0.45 / total
        gutter = 0.045  # figure width for the y tick labels
        ax = fig.add_axes([left + pad_x + gutter, top - height + pad_y + 0.4 / total,
                           width - 2 * pad_x - gutter - 0.006, inner_h])
        draw_panel(ax, panel, panel_kind(panel, dash, sources), data.get((dash["uid"], panel["id"])))
    return fig


def save(fig: plt.Figure, path: Path, json_path: Path) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor=BG)
    plt.close(fig)
    image = Image.open(buf).convert("RGB").quantize(colors=64)  # a palette PNG: a fraction of the bytes
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", LABEL)
    info.add_text("vigil-dashboard", str(json_path.relative_to(REPO)))
    info.add_text(HASH_KEY, dashboard_hash(json_path))
    image.save(path, optimize=True, pnginfo=info)
    return path.stat().st_size


DEMO_MINUTES = 0


def main(argv: list[str] | None = None) -> int:
    global DEMO_MINUTES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.getenv("PREVIEW_SECONDS", "150")))
    parser.add_argument("--data", type=Path, help="keep the demo's query results in this JSON file, and "
                        "redraw from it without a demo when it exists (to work on the drawing)")
    args = parser.parse_args(argv)
    sources = datasources()
    began = time.monotonic()
    if args.data and args.data.exists():
        saved = json.loads(args.data.read_text())
        start, end, data = saved["start"], saved["end"], {tuple(json.loads(k)): v for k, v in saved["data"].items()}
    else:
        start, end, data = demo(args.seconds, sources)
        if args.data:
            args.data.write_text(json.dumps({"start": start, "end": end,
                                             "data": {json.dumps(k): v for k, v in data.items()}}))
    DEMO_MINUTES = round((end - start) / 60, 1)
    IMAGES.mkdir(parents=True, exist_ok=True)
    total = 0
    for json_path, dash in dashboards().items():
        target = IMAGES / f"{dash['uid']}.png"
        size = save(draw(dash, data, sources), target, json_path)
        total += size
        print(f"wrote {target.relative_to(REPO)} ({size // 1024} KiB) from {json_path.relative_to(REPO)}")
    print(f"{len(dashboards())} previews, {total // 1024} KiB in all, in {time.monotonic() - began:.0f} s.")
    return 0


def demo(seconds: int, sources: dict) -> tuple[float, float, dict]:
    print(f"Starting the demo (PostgreSQL, Redis, backend, load generator, exporters, Prometheus); "
          f"{seconds} s of data ...", flush=True)
    with fresh_db() as db, live_stack(db) as stack:
        start = time.time() - (time.monotonic() - stack.loadgen.started_at)
        left = seconds - (time.monotonic() - stack.loadgen.started_at)
        if left > 0:
            time.sleep(left)  # the demo itself: nothing to poll for, the data accumulates
        end = time.time()
        data = collect(stack.prom.base_url, start, end, sources)
        data.update(collect_sql(stack.db, end, sources))
        return start, end, data


if __name__ == "__main__":
    sys.exit(main())
