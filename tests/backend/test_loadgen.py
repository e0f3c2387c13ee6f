"""The load generator (`python -m loadgen`) against the real backend (uvicorn)."""
from __future__ import annotations

import json
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from backend.helpers import sample, scrape
from harness import BACKEND_DIR


def test_loadgen_sends_a_bounded_realistic_mix(backend):
    out = subprocess.run([sys.executable, "-m", "loadgen", "--base-url", backend.base_url, "--duration", "6",
                          "--rps", "25", "--fault-every", "2", "--seed", "3"],
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
