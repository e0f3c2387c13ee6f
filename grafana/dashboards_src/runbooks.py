"""Runbooks (folder runbooks): one dashboard per docs/runbooks/<Alert>.md, its text as one markdown panel."""
from __future__ import annotations

from pathlib import Path

from .build import dashboard

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


def runbook_uid(alert: str) -> str:
    """The uid of an alert's runbook dashboard; alert rules link to /d/<this> (runbook_url annotation)."""
    uid = f"runbook-{alert.lower()}"
    assert len(uid) <= 40, f"{uid}: Grafana uids have at most 40 characters"
    return uid


def runbook(path: Path) -> dict:
    """docs/runbooks/<Alert>.md as a dashboard holding one markdown panel: the alert's Slack link opens
    it in Grafana, where the on-call person already is, with no public repository needed."""
    board = dashboard("vigil-overview", f"Runbook of the {path.stem} alert (from docs/runbooks/{path.name}).",
                      [], [], [], refresh="")
    text = {"type": "text", "title": "", "description": "", "id": 1, "gridPos": {"x": 0, "y": 0, "w": 24, "h": 30},
            "options": {"mode": "markdown", "content": path.read_text()}}
    return {**board, "uid": runbook_uid(path.stem), "title": f"Runbook / {path.stem}", "tags": ["runbook"],
            "links": board["links"][:1], "panels": [text]}
