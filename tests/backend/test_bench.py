"""`make bench`'s code path, run cheaply so that it cannot silently break.

Real programs: every variant of bench/app.py served by uvicorn (a real server, real HTTP); bench/instrumentation.py
under valgrind's callgrind with a handful of requests; bench/render.py in a child Python.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from harness import BACKEND_DIR, REPO, Proc, free_port, venv_bin

sys.path.insert(0, str(REPO / "bench"))
import instrumentation  # noqa: E402  (bench/instrumentation.py)


@pytest.mark.parametrize("variant", instrumentation.VARIANTS)
def test_every_variant_of_the_bench_app_serves_its_endpoint(variant, tmp_path):
    """Each variant starts as `make bench` starts it and answers the benchmark's request with 200; the peers that
    expose /metrics show their HTTP metrics there (so each one really is instrumented)."""
    import http.client

    port = free_port()
    proc = Proc(f"bench-{variant}", [venv_bin("uvicorn"), "app:app", "--port", str(port), "--log-level", "warning"],
                env={**instrumentation.APP_ENV, "BENCH_VARIANT": variant, "OTEL_TRACES_SAMPLER_ARG": "1",
                     "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},  # nothing listens: spans are dropped
                cwd=str(REPO / "bench")).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/api/items/1", timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(3):
            conn.request("GET", f"/api/items/{i}")
            resp = conn.getresponse()
            assert resp.status == 200 and b'"id":' in resp.read()
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
        if variant in ("none", "none-telemetry-off", "otel-fastapi"):
            assert resp.status == 404  # nothing exposed
        else:
            assert resp.status == 200
            assert re.search(r"^\w*request\w*duration\w*_count\{", body, re.M), body[:2000]
    finally:
        proc.stop()


def test_the_instruction_table_runs_under_callgrind():
    """bench/instrumentation.py's callgrind path end to end with a few requests: both baselines, a Vigil variant
    and a sampled one (the 0.9/0.1 line), and the table with ratios against both baselines."""
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "instrumentation.py"), "--only", "instructions", "--no-render",
         "--variants", "none,none-telemetry-off,metrics,full+tracing", "--n1", "1", "--n2", "3", "--warmup", "2"],
        capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {m[0]: m[1:] for m in re.findall(r"^\| ([^|]+?) \| ([\d,]+) \| ([^|]*) \| ([^|]*) \| ([^|]*) \|",
                                            out.stdout, re.M)}
    assert set(rows) >= {"none", "none-telemetry-off", "metrics", "full+tracing at 10 %",
                         "full+tracing, none sampled", "full+tracing, all sampled"}, out.stdout
    assert rows["none-telemetry-off"][3] == "**1.000**" and rows["none"][2] == "1.000"
    assert re.search(r"≥ 0\.96 (met|\*\*missed\*\*)", out.stdout)
    assert re.search(r"^\| full\+tracing, all sampled \|.*\| 1\.000 \|", out.stdout, re.M), out.stdout


def test_the_render_sizes_grow_to_about_ten_thousand_lines():
    lines = [int(subprocess.run([sys.executable, "-P", str(REPO / "bench" / "render.py"), "lines", "0", str(t)],
                                env={**os.environ, "PYTHONPATH": str(BACKEND_DIR)}, capture_output=True, text=True,
                                check=True, timeout=120).stdout) for t in instrumentation.RENDER_SCALES]
    assert lines == sorted(lines) and 9_000 <= lines[-1] <= 12_000, lines
