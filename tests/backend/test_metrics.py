"""Metrics as Prometheus sees them: uvicorn (one and two workers), gunicorn with two workers.

Checks names and labels against docs/metrics.md, that client input cannot mint
series, and that multi-process mode sums workers and forgets dead ones.
"""
from __future__ import annotations

import http.client
import os
import random
import re
import signal
import string
import tempfile
import uuid

from prometheus_client.parser import text_string_to_metric_families

from backend.helpers import request, run_workflow, sample, scrape
from harness import REPO, BACKEND_DIR, Proc, free_port, venv_bin, wait_until

DOC = REPO / "docs" / "metrics.md"


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\w+) \| ([^|]+) \|", DOC.read_text(), re.M)
    return {name: (typ, tuple(re.findall(r"`(\w+)`", labels))) for name, typ, labels in rows}


def exposed(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    found = {}
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith(("process_", "python_")):
            continue
        name = fam.name + ("_total" if fam.type == "counter" else "")
        labels = set()
        for s in fam.samples:
            labels |= set(s.labels) - {"le"}
        found[name] = (fam.type, tuple(sorted(labels)))
    return found


def test_metrics_match_the_documentation(backend):
    # Exercise every code path that creates label children, so label names are visible.
    run_workflow(backend.base_url)
    request("PUT", backend.base_url + "/api/admin/faults",
            {"providers": {"google": {"failure_rate": 1}}, "duration_seconds": 30})
    run_workflow(backend.base_url, {"name": "f", "steps": [{"agent": "summarizer", "model": "gemini-2.5-flash"}]})
    request("GET", backend.base_url + "/api/stats/real-time?q=1%20union%20select%20password")
    docs, live = documented(), exposed(scrape(backend.base_url))
    assert sorted(docs) == sorted(live), "docs/metrics.md and /metrics list different metrics"
    for name, (typ, labels) in live.items():
        assert docs[name][0] == typ, name
        if labels:  # families without samples yet show no labels
            assert sorted(docs[name][1]) == list(labels), name


def _series(text: str, name: str) -> set:
    return {tuple(sorted(s.labels.items())) for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == name}


def _scan(port: int, n: int, seed: int) -> None:
    """Scanner-like requests: half unmatched paths, half a real route with random ids."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_.~"
    for i in range(n):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        path = f"/{junk}/{i}" if i % 2 else f"/api/workflows/{junk}{i}"
        conn.request(rng.choice(("GET", "HEAD", "DELETE", "PROPFIND")), path)
        conn.getresponse().read()
    conn.close()


def test_random_paths_add_no_series(backend):
    _scan(backend.port, 200, seed=1)  # warm-up: every method/status pair the scan can produce
    before = _series(scrape(backend.base_url), "http_server_request_duration_seconds_count")
    _scan(backend.port, 5000, seed=2)
    text = scrape(backend.base_url)
    after = _series(text, "http_server_request_duration_seconds_count")
    assert after == before, after - before
    assert {dict(s)["http_route"] for s in after} == {"/health", "unmatched", "/api/workflows/{workflow_id}"}
    assert {dict(s)["http_request_method"] for s in after} == {"GET", "HEAD", "DELETE", "_OTHER"}
    assert sample(text, "http_server_request_duration_seconds_count") >= 5200


def _multiproc_env() -> dict:
    return {"PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="vigil-mp-")}


def test_two_uvicorn_workers_aggregate(backend_factory):
    be = backend_factory(env=_multiproc_env(), workers=2)
    mpdir = be.env["PROMETHEUS_MULTIPROC_DIR"]
    sent = 0

    def both_workers_served():
        nonlocal sent
        for _ in range(20):  # a fresh connection each time lets either worker accept it
            assert request("GET", be.base_url + "/api/models")[0] == 200
            sent += 1
        return len({f for f in os.listdir(mpdir) if f.startswith("histogram_")}) == 2
    wait_until(both_workers_served, 30, interval=0, message="requests served by both workers")
    for _ in range(10):  # whichever worker answers the scrape reports the sum of both
        text = scrape(be.base_url)
        assert sample(text, "http_server_request_duration_seconds_count", http_route="/api/models") == sent
    assert sample(text, "app_build_info") == 1  # "max" mode: one series, not one per worker


def test_gunicorn_workers_sum_and_dead_workers_are_dropped():
    port = free_port()
    env = {**_multiproc_env(), "WEB_CONCURRENCY": "2", "PORT": str(port), "LLM_LATENCY_SCALE": "0",
           "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp()}/v.db", "RATE_LIMIT_PER_MINUTE": "0"}
    proc = Proc("gunicorn", [venv_bin("gunicorn"), "-c", "gunicorn.conf.py", "app.asgi:app"],
                env=env, cwd=str(BACKEND_DIR)).start()
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/health", timeout=30)

        def workers():
            out = os.popen(f"pgrep -P {proc.pid}").read().split()
            return [int(p) for p in out] if len(out) == 2 else None
        first = wait_until(workers, 30, message="two gunicorn workers")
        # Each worker's pool reports its capacity once: livesum over two workers is twice one.
        per_worker = wait_until(lambda: sample(scrape(base), "db_pool_connections_max") or None, 10,
                                message="pool gauge")
        wait_until(lambda: sample(scrape(base), "db_pool_connections_max") == per_worker and
                   len(os.listdir(env["PROMETHEUS_MULTIPROC_DIR"])) > 0, 10, message="stable gauge")
        for _ in range(40):
            run = request("POST", base + "/api/workflows", {"name": "mp", "input": "x"})
            assert run[0] == 202
        wait_until(lambda: sample(scrape(base), "workflow_runs_total") == 40, 30, message="40 runs counted")
        os.kill(first[0], signal.SIGKILL)
        wait_until(lambda: (w := workers()) and first[0] not in w, 30, message="worker replaced")
        proc.wait_http(base + "/health", timeout=30)
        # The killed worker's counters stay (counters never go down); its live gauge is gone.
        wait_until(lambda: sample(scrape(base), "db_pool_connections_max") == per_worker, 15,
                   message="dead worker's gauge dropped")
        assert sample(scrape(base), "workflow_runs_total") == 40
    finally:
        proc.stop()


def test_api_docs_routes_are_their_own_routes(backend):
    """FastAPI's /docs, /redoc and /openapi.json are plain Starlette routes: labelled by their path, not
    `unmatched` (which stays for 404s)."""
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert request("GET", backend.base_url + path)[0] == 200, path
    request("GET", backend.base_url + "/no-such-page")
    text = scrape(backend.base_url)
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert sample(text, "http_server_request_duration_seconds_count", http_route=path,
                      http_response_status_code="200") == 1, path
    assert sample(text, "http_server_request_duration_seconds_count", http_route="unmatched",
                  http_response_status_code="200") == 0
    assert sample(text, "http_server_request_duration_seconds_count", http_route="unmatched",
                  http_response_status_code="404") == 1
