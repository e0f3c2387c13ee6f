#!/usr/bin/env python3
"""Write Vigil's Grafana dashboards (classic JSON model) from the modules of grafana/dashboards_src/.

    python grafana/generate.py          # rewrite grafana/dashboards/<folder>/<name>.json
    python grafana/generate.py --check  # exit 1 if the committed JSON differs (CI, make check-grafana)

Plain Python, no packages. dashboards_src/build.py holds the helpers; each other module builds one
dashboard and is named like its JSON file (overview.py -> generic/overview.json); runbooks.py turns
every docs/runbooks/<Alert>.md into runbooks/<Alert>.json. The JSON is committed so Grafana's file
provider can load it; tests/grafana checks that running this script changes nothing, and that every
query of every panel returns data against real Prometheus and PostgreSQL.

Queries use the recording rules of prometheus/rules/*/*.yml where one exists
(level:metric:operations names); raw metric names come from backend/observability/metrics.py
and backend/app/metrics.py.
Exporter metrics are names the pinned exporters expose (the tests run the same releases, make tools:
node_exporter 1.12, postgres_exporter 0.19, redis_exporter 1.88).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by path (tests/grafana/panels.py), not run as a script
    sys.path.insert(0, str(HERE))

from dashboards_src import (build as helpers, business, infrastructure, llm, logs, overview, runbooks,  # noqa: E402
                            security, workflows)
from dashboards_src.build import DASHBOARDS  # noqa: E402

if str(HERE.parent) not in sys.path:  # render/ (the repository's top level): vigil.toml's services
    sys.path.insert(0, str(HERE.parent))
from render import config  # noqa: E402

OUT = HERE / "dashboards"

BUILDERS = {"vigil-overview": overview.build, "vigil-llm": llm.build, "vigil-workflows": workflows.build,
            "vigil-infra": infrastructure.build, "vigil-logs": logs.build, "vigil-security": security.build,
            "vigil-business": business.build}


def render(cfg: "config.Config | None" = None) -> dict[Path, str]:
    """Every dashboard file's path and exact text, for the services of ``cfg`` (default: vigil.toml)."""
    helpers.configure(cfg or config.load())
    files = {}
    for uid, build in BUILDERS.items():
        _, folder, name = DASHBOARDS[uid]
        files[OUT / folder / f"{name}.json"] = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    for path in sorted(runbooks.RUNBOOKS.glob("*.md")):
        files[OUT / "runbooks" / f"{path.stem}.json"] = json.dumps(runbooks.runbook(path), indent=2,
                                                                   ensure_ascii=False) + "\n"
    return files


def main() -> None:
    files = render()
    if "--check" in sys.argv[1:]:
        on_disk = set(OUT.glob("*/*.json"))
        stale = sorted(str(p) for p in on_disk ^ set(files)) + sorted(
            str(p) for p, text in files.items() if p.exists() and p.read_text() != text)
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        if stale:
            sys.exit("dashboards differ from grafana/generate.py: run python grafana/generate.py")
        return
    for stale in OUT.glob("*/*.json"):
        if stale not in files:
            stale.unlink()
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
