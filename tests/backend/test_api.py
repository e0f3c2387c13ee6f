"""Backend API against real processes: uvicorn serving the app, on SQLite or a real PostgreSQL."""
from __future__ import annotations

import http.client
import uuid

import pytest

from backend.helpers import request, run_workflow


def test_default_pipeline_runs_to_completion(backend):
    status, headers, created = request("POST", backend.base_url + "/api/workflows",
                                       {"name": "report", "input": "write a short report"})
    assert status == 202 and created["status"] == "pending"
    assert headers["location"] == f"/api/workflows/{created['id']}"
    wf = run_workflow(backend.base_url, {"name": "report", "input": "write a longer report"})  # no cache hits
    assert wf["status"] == "completed"
    assert [s["agent"] for s in wf["steps"]] == ["planner", "researcher", "writer", "reviewer"]
    assert wf["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in wf["steps"]))
    assert wf["input_tokens"] == sum(s["input_tokens"] for s in wf["steps"]) > 0
    assert wf["started_at"] and wf["finished_at"] and wf["duration_ms"] > 0


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


def test_failed_provider_fails_the_workflow(backend_factory):
    be = backend_factory(env={"LLM_FAILURE_RATE": "1"})
    wf = run_workflow(be.base_url, {"name": "doomed", "steps": [{"agent": "planner"}, {"agent": "writer"}]})
    assert wf["status"] == "failed"
    assert wf["error_type"] in {"timeout", "rate_limited", "server_error", "parse_error"}
    assert len(wf["steps"]) == 1 and wf["steps"][0]["status"] == "failed"


def test_workflow_in_a_project_produces_reviewed_assets(backend_factory, pg_database, postgres):
    be = backend_factory(env={"DATABASE_URL": pg_database})
    status, _, catalogue = request("GET", be.base_url + "/api/workflows/projects")
    assert status == 200 and len(catalogue["projects"]) >= 10
    project = catalogue["projects"][0]["id"]
    wf = run_workflow(be.base_url, {"name": "campaign", "project_id": project})
    assert wf["project_id"] == project
    db = pg_database.rsplit("/", 1)[1]
    rows = postgres.execute("SELECT a.asset_type, a.review_status, a.project_id, w.user_id = p.user_id "
                            "FROM assets a JOIN workflows w ON w.id = a.workflow_id "
                            "JOIN projects p ON p.id = w.project_id WHERE a.workflow_id = %s ORDER BY a.id",
                            db=db, params=(wf["id"],), fetch=True)
    # Default pipeline: researcher and writer deliver, the reviewer after them judges both.
    assert [(r[0], r[2], r[3]) for r in rows] == [("research_brief", project, True), ("article", project, True)]
    assert {r[1] for r in rows} <= {"approved", "rejected"}
    status, _, body = request("POST", be.base_url + "/api/workflows", {"name": "x", "project_id": 10**6})
    assert status == 404 and "project_id" in body["detail"]


@pytest.mark.parametrize("body, field", [
    ({"input": "no name"}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x", "steps": []}, "steps"),
    ({"name": "x", "steps": [{"agent": "hacker"}]}, "agent"),
    ({"name": "x", "steps": [{"agent": "writer", "model": "gpt-99"}]}, "model"),
    ({"name": "x", "unexpected": 1}, "unexpected"),
    ({"name": "x", "steps": [{"agent": "writer"}] * 11}, "steps"),
])
def test_invalid_workflow_is_422(backend, body, field):
    status, _, resp = request("POST", backend.base_url + "/api/workflows", body)
    assert status == 422
    assert any(field in map(str, e["loc"]) for e in resp["detail"]), resp


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_body_is_4xx_not_5xx(backend, raw):
    status, _, _ = request("POST", backend.base_url + "/api/workflows", raw=raw)
    assert 400 <= status < 500


def test_oversized_body_is_413(backend):
    status, _, resp = request("POST", backend.base_url + "/api/workflows",
                              raw=b'{"name": "x", "input": "' + b"a" * 200_000 + b'"}')
    assert status == 413 and "larger than" in resp["detail"]


def test_oversized_chunked_body_is_413(backend):
    """No Content-Length: the limit is enforced while the body streams in."""
    conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=10)
    chunks = (b"a" * 16384 for _ in range(10))
    conn.request("POST", "/api/workflows", body=chunks, headers={"content-type": "application/json"},
                 encode_chunked=True)
    assert conn.getresponse().status == 413


def test_unknown_workflow_is_404(backend):
    status, _, resp = request("GET", f"{backend.base_url}/api/workflows/{uuid.uuid4()}")
    assert (status, resp["detail"]) == (404, "workflow not found")


@pytest.mark.parametrize("period, expected", [("1", 200), ("720", 200), ("0", 422), ("721", 422),
                                              ("-5", 422), ("abc", 422), ("1.5", 422)])
def test_cost_summary_period_bounds(backend, period, expected):
    status, _, _ = request("GET", f"{backend.base_url}/api/stats/cost-summary?period_hours={period}")
    assert status == expected


@pytest.mark.parametrize("body", [
    {"providers": {"nobody": {"failure_rate": 1}}},
    {"providers": {"openai": {"failure_rate": 2}}},
    {"http_error_rate": -1},
    {"duration_seconds": 0},
])
def test_invalid_fault_injection_is_422(backend, body):
    status, _, _ = request("PUT", backend.base_url + "/api/admin/faults", body)
    assert status == 422


def test_injected_http_errors_and_their_reset(backend):
    status, _, faults = request("PUT", backend.base_url + "/api/admin/faults",
                                {"http_error_rate": 1.0, "duration_seconds": 60})
    assert status == 200 and faults["active"]
    assert request("GET", backend.base_url + "/api/stats/real-time")[0] == 503
    assert request("GET", backend.base_url + "/health")[0] == 200  # probes are never faulted
    assert request("DELETE", backend.base_url + "/api/admin/faults")[0] == 200
    assert request("GET", backend.base_url + "/api/stats/real-time")[0] == 200


def test_models_lists_the_price_table(backend):
    status, _, body = request("GET", backend.base_url + "/api/models")
    assert status == 200
    assert {m["provider"] for m in body["models"]} == {"anthropic", "openai", "google"}
    assert "planner" in body["agents"]
