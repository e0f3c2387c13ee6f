"""prometheus/rules/generic/thresholds.yml: each [thresholds] value of vigil.toml as a constant series.

The alerts compare against vigil:<name>:constant, their descriptions print it and the dashboards draw it.
Written as plain text (not yamlout) so that every constant reads `expr: vector(<number>)`, which
tests/prometheus/test_thresholds.py moves in a copy to prove the unit tests notice.
"""
from __future__ import annotations

import re

from .config import Config

PATH = "prometheus/rules/generic/thresholds.yml"
HEADER = "# GENERATED from vigil.toml by `make render`: edit vigil.toml, not this file.\n"


def _comments(cfg: Config) -> dict[str, str]:
    """The comment written after each key of [thresholds] in vigil.toml (shown above its constant)."""
    out = {}
    for line in cfg.path.read_text().splitlines() if cfg.path.exists() else []:
        m = re.match(r"\s*([a-z0-9_]+)\s*=\s*[0-9.eE+-]+\s*#\s*(.+)$", line)
        if m and m.group(1) in cfg.thresholds:
            out[m.group(1)] = m.group(2).strip()
    return out


def number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def text(cfg: Config) -> str:
    comments = _comments(cfg)
    lines = [HEADER.rstrip("\n"),
             "# Alert thresholds, each a constant series vigil:<name>:constant ([thresholds] of vigil.toml).",
             "# (`for:` durations cannot be series: they stay on each alert.)",
             "groups:", "  - name: vigil-thresholds", "    rules:"]
    for name, value in cfg.thresholds.items():
        if name in comments:
            lines.append(f"      # {comments[name]}")
        lines += [f"      - record: vigil:{name}:constant", f"        expr: vector({number(value)})"]
    return "\n".join(lines) + "\n"


def files(cfg: Config) -> dict[str, str]:
    return {PATH: text(cfg)}
