"""Backend API against real processes: uvicorn running the app, SQLite or a real PostgreSQL."""
from __future__ import annotations

import pytest

from backend.helpers import request, run_workflow, sample, scrape


def test_default_pipeline_runs_to_completion(backend):
    wf = run_workflow(backend.base_url, {"name": "report", "input": "write a short report"})
    assert wf["status"] == "completed"
    assert [s["agent"] for s in wf["steps"]] == ["planner", "researcher", "writer", "reviewer"]
    assert wf["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in wf["steps"]))
    assert wf["input_tokens"] > 0 and wf["output_tokens"] > 0


def test_custom_steps_and_models(backend):
    wf = run_workflow(backend.base_url, {"name": "c", "steps": [
        {"agent": "coder", "model": "gpt-4.1"}, {"agent": "summarizer", "model": "gemini-2.5-flash"}]})
    assert [(s["agent"], s["provider"], s["model"]) for s in wf["steps"]] == [
        ("coder", "openai", "gpt-4.1"), ("summarizer", "google", "gemini-2.5-flash")]


def test_runs_on_postgres(backend_factory, pg_database):
    be = backend_factory(env={"DATABASE_URL": pg_database})
    wf = run_workflow(be.base_url)
    assert wf["status"] == "completed"
    status, _, body = request("GET", be.base_url + "/ready")
    assert (status, body["status"]) == (200, "ready")
