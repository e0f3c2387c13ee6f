"""The load generator (`python -m loadgen`) against the real backend (uvicorn)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from backend.helpers import sample, scrape
from harness import BACKEND_DIR


def test_loadgen_sends_a_bounded_realistic_mix(backend):
    out = subprocess.run([sys.executable, "-m", "loadgen", "--base-url", backend.base_url, "--duration", "6",
                          "--rps", "25", "--fault-every", "2", "--seed", "3", "--no-abuse"],
                         cwd=BACKEND_DIR, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])["responses"]
    total = sum(counts.values())
    assert 60 <= total <= 6 * 25 + 10  # the rate cap holds
    assert counts.get("2xx", 0) > counts.get("4xx", 0) > 0 and "conn_error" not in counts
    assert "fault burst" in out.stderr
    text = scrape(backend.base_url)
    routes = {s.labels["http_route"] for f in text_string_to_metric_families(text)
              for s in f.samples if "http_route" in s.labels}
    assert {"/api/workflows", "/api/workflows/{workflow_id}", "/api/stats/real-time",
            "/api/stats/cost-summary", "unmatched"} <= routes
    assert sample(text, "http_server_request_duration_seconds_count", http_response_status_code="404") > 0
    providers = {p for p in ("anthropic", "openai", "google") if sample(text, "llm_requests_total", provider=p)}
    assert len(providers) == 3


def test_abuse_episode_trips_auth_rate_limit_and_block(backend_factory):
    """The episode the default demo runs: wrong and missing keys, probes, a burst until blocked.
    The key comes from API_KEYS (as in Compose); the backend's limits are small to keep it short."""
    be = backend_factory(env={"API_KEYS": "demo-key,other", "RATE_LIMIT_PER_MINUTE": "40", "BLOCK_SECONDS": "3"})
    out = subprocess.run([sys.executable, "-m", "loadgen", "--base-url", be.base_url, "--duration", "4",
                          "--rps", "5", "--no-faults", "--abuse-every", "1", "--abuse-at-second", "-1"],
                         cwd=BACKEND_DIR, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "API_KEYS": "demo-key,other"})
    assert out.returncode == 0, out.stderr
    assert "abuse episode" in out.stderr
    text = scrape(be.base_url)
    assert sample(text, "auth_failures_total", reason="missing") >= 2
    assert sample(text, "auth_failures_total", reason="invalid") >= 2
    for kind in ("path_traversal", "sql_injection", "auth_abuse", "rate_limit_abuse"):
        assert sample(text, "security_events_total", event_type=kind) >= 1, kind
    assert sample(text, "rate_limit_rejections_total", http_route="/api/models") >= 1
    assert sample(text, "security_blocks_total") >= 1
    assert sample(text, "security_blocked_requests_total") >= 3
    # The generator's own key worked: its workflows were accepted.
    assert sample(text, "http_server_request_duration_seconds_count", http_route="/api/workflows",
                  http_response_status_code="202") >= 1
