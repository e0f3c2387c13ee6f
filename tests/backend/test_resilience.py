"""Failure handling of the real backend: a PostgreSQL cluster stopped under it, providers failing, Redis cache."""
from __future__ import annotations

import time

from backend.helpers import request, run_workflow, sample, scrape
from harness import start_postgres, wait_until


def test_database_down_makes_ready_503_while_health_answers(backend_factory):
    pg = start_postgres()  # its own cluster: this test stops it
    try:
        pg.execute("CREATE DATABASE app")
        be = backend_factory(env={"DATABASE_URL": pg.url("app")})
        assert request("GET", be.base_url + "/ready")[0] == 200
        pg.stop()
        status, _, body = request("GET", be.base_url + "/ready")
        assert status == 503 and body["reason"].startswith("database")
        status, _, body = request("GET", be.base_url + "/health")
        assert (status, body) == (200, {"status": "ok"})
        status, headers, body = request("GET", be.base_url + "/api/stats/real-time")
        assert (status, body["detail"]) == (503, "database unavailable") and headers["retry-after"]
        pg.start()
        wait_until(lambda: request("GET", be.base_url + "/ready")[0] == 200, 20, message="ready again")
        assert run_workflow(be.base_url)["status"] == "completed"
    finally:
        pg.stop()


def test_breaker_opens_fails_fast_half_opens_and_closes(backend_factory):
    be = backend_factory(env={"BREAKER_FAILURE_THRESHOLD": "3", "BREAKER_RESET_SECONDS": "1.5"})
    base = be.base_url
    openai_only = {"name": "b", "steps": [{"agent": "reviewer", "model": "gpt-4o-mini"}]}
    request("PUT", base + "/api/admin/faults", {"providers": {"openai": {"failure_rate": 1.0}},
                                               "duration_seconds": 120})
    for i in range(3):
        wf = run_workflow(base, {**openai_only, "input": f"fail {i}"})
        assert wf["error_type"] != "circuit_open"
    text = scrape(base)
    assert sample(text, "circuit_breaker_state", provider="openai") == 2
    assert sample(text, "circuit_breaker_state", provider="google") == 0
    # Open: the call fails fast without reaching the provider.
    wf = run_workflow(base, {**openai_only, "input": "fast"})
    assert wf["error_type"] == "circuit_open"
    text = scrape(base)
    assert sample(text, "llm_errors_total", provider="openai", error_type="circuit_open") == 1
    # GenAI conventions: the failed call's duration carries error_type; no tokens for it.
    assert sample(text, "gen_ai_client_operation_duration_seconds_count", gen_ai_operation_name="chat",
                  gen_ai_provider_name="openai", error_type="circuit_open") == 1
    # The provider recovers; after the cool-down one trial call is let through and closes the breaker.
    request("PUT", base + "/api/admin/faults", {"providers": {"openai": {"failure_rate": 0.0}},
                                               "duration_seconds": 120})
    opened = time.monotonic()
    wf = wait_until(lambda: (w := run_workflow(base, {**openai_only, "input": f"t{time.time()}"}))
                    ["status"] == "completed" and w, 20, interval=0.3, message="breaker to close")
    assert time.monotonic() - opened >= 1.0
    text = scrape(base)
    assert sample(text, "circuit_breaker_state", provider="openai") == 0
    for old, new in (("closed", "open"), ("open", "half_open"), ("half_open", "closed")):
        assert sample(text, "circuit_breaker_transitions_total", provider="openai",
                      from_state=old, to_state=new) == 1, (old, new)
    # A successful call: its duration without error_type (empty), its input and output tokens.
    assert sample(text, "gen_ai_client_operation_duration_seconds_count", gen_ai_provider_name="openai",
                  error_type="") >= 1
    for token_type in ("input", "output"):
        assert sample(text, "gen_ai_client_token_usage_sum", gen_ai_provider_name="openai",
                      gen_ai_token_type=token_type) > 0, token_type


def test_response_cache_in_redis_is_shared_across_restarts(backend_factory, redis_url):
    """CACHE_REDIS_URL: the LLM cache in a Redis of its own (never the security store's)."""
    body = {"name": "cached", "input": f"same question {time.time()}",
            "steps": [{"agent": "writer", "model": "claude-haiku-4-5"}]}
    first = backend_factory(env={"CACHE_REDIS_URL": redis_url})
    assert run_workflow(first.base_url, body)["cost_usd"] > 0
    first.stop()
    second = backend_factory(env={"CACHE_REDIS_URL": redis_url})
    wf = run_workflow(second.base_url, body)
    assert wf["status"] == "completed" and wf["cost_usd"] == 0  # served from the cache: nothing billed
    text = scrape(second.base_url)
    assert sample(text, "llm_cache_lookups_total", provider="anthropic", result="hit") == 1
    assert sample(text, "llm_cache_lookups_total", result="miss") == 0


def test_in_memory_cache_hits(backend):
    body = {"name": "m", "input": "repeat me", "steps": [{"agent": "summarizer", "model": "gemini-2.5-flash"}]}
    run_workflow(backend.base_url, body)
    run_workflow(backend.base_url, body)
    text = scrape(backend.base_url)
    assert sample(text, "llm_cache_lookups_total", result="hit") == 1
    assert sample(text, "llm_cache_lookups_total", result="miss") == 1


def test_workflows_abandoned_by_a_dead_process_are_failed_at_start(backend_factory, pg_database, postgres):
    """A process killed mid-run leaves rows pending/running; the next start closes the old ones."""
    first = backend_factory(env={"DATABASE_URL": pg_database})
    run_workflow(first.base_url)  # schema and catalogue exist
    first.stop()
    db = pg_database.rsplit("/", 1)[1]
    postgres.execute("INSERT INTO workflows (id, name, tenant, status, input, created_at, input_tokens, "
                     "output_tokens, cost_usd) VALUES ('old-run', 'x', 'default', 'running', '', "
                     "now() at time zone 'utc' - interval '1 hour', 0, 0, 0), ('new-run', 'x', 'default', "
                     "'pending', '', now() at time zone 'utc', 0, 0, 0)", db=db)
    second = backend_factory(env={"DATABASE_URL": pg_database})
    old = request("GET", second.base_url + "/api/workflows/old-run")[2]
    assert (old["status"], old["error_type"]) == ("failed", "interrupted") and old["finished_at"]
    assert request("GET", second.base_url + "/api/workflows/new-run")[2]["status"] == "pending"
