"""Instructions per request, counted by valgrind's callgrind (deterministic to ~0.03 %).

Each variant of bench/app.py runs as a whole server (one uvicorn worker, HTTP parsing
included) under callgrind twice: a fixed warm-up, then N1 or N2 requests to
GET /api/items/{id} over one kept-alive connection, then SIGINT so callgrind writes its
counts. Per request = (Ir at N2 - Ir at N1) / (N2 - N1): start-up, warm-up and shutdown
cancel out. Valgrind runs ~50x slower, so the batch span processor's timer is pushed out
(OTEL_BSP_SCHEDULE_DELAY): spans are exported in a few large batches, as at full speed.

Also counts one render of /metrics (Vigil's render_text against prometheus_client's
generate_latest) over a registry filled like the reference backend's after a demo load.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Both runs of a pair must start alike: the same hash seed, and no .pyc written by the first run
# that the second would load instead of compiling.
SAME_START = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT / "backend")}
_TOTAL = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


def _ir(out_file: str) -> int:
    with open(out_file, "rb") as f:
        return int(_TOTAL.findall(f.read())[-1])


def _valgrind(out_file: str, argv: list[str]) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--quiet", *argv]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {port} not up after {timeout}s")
            time.sleep(0.2)


def server_ir(variant: str, requests: int, warmup: int, env: dict) -> int:
    """Total instructions of one server run: start, warmup + requests GETs, SIGINT."""
    from harness import free_port, venv_bin  # tests/ is on sys.path (bench/instrumentation.py)

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vigil-callgrind-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        argv = _valgrind(out, [venv_bin("python"), "-m", "uvicorn", "app:app", "--port", str(port),
                               "--no-access-log", "--log-level", "warning"])
        with open(os.path.join(tmp, "server.log"), "wb") as log:
            # A callable value is given the run's request count (e.g. an endpoint of its own).
            run_env = {k: v(requests) if callable(v) else v for k, v in env.items()}
            proc = subprocess.Popen(argv, cwd=ROOT / "bench", stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, **run_env, **SAME_START, "BENCH_VARIANT": variant})
            try:
                _wait_port(port, proc)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                for i in range(warmup + requests):
                    conn.request("GET", f"/api/items/{i % 1000}")
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{variant}: GET answered {resp.status}")
                conn.close()
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(600)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.returncode not in (0, -signal.SIGINT) or not os.path.exists(out):
            with open(os.path.join(tmp, "server.log"), errors="replace") as f:
                raise RuntimeError(f"{variant}: server exited with {proc.returncode}:\n{f.read()[-3000:]}")
        return _ir(out)


def per_request(variant: str, n1: int, n2: int, warmup: int, env: dict) -> float:
    """The two runs go side by side (instruction counts do not depend on what else runs)."""
    with ThreadPoolExecutor(2) as pool:
        low, high = pool.map(lambda n: server_ir(variant, n, warmup, env), (n1, n2))
    return (high - low) / (n2 - n1)


def _render_argv(renderer: str, count: int, tenants: int) -> list[str]:
    from harness import venv_bin

    # -P: bench/ (where app.py is the benchmark's app) must not shadow the backend's `app` package.
    return [venv_bin("python"), "-P", str(ROOT / "bench" / "render.py"), renderer, str(count), str(tenants)]


def render_lines(tenants: int) -> int:
    """Lines of bench/render.py's /metrics page with ``tenants`` tenants (no valgrind)."""
    out = subprocess.run(_render_argv("lines", 0, tenants), check=True, capture_output=True, text=True,
                         env={**os.environ, **SAME_START}).stdout
    return int(out.split()[-1])


def render_ir(renderer: str, count: int, tenants: int = 4) -> int:
    """Total instructions of bench/render.py rendering /metrics ``count`` times."""

    with tempfile.TemporaryDirectory(prefix="vigil-callgrind-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(_valgrind(out, _render_argv(renderer, count, tenants)), check=True,
                       env={**os.environ, **SAME_START})
        return _ir(out)


def per_render(renderer: str, tenants: int = 4, k1: int = 1, k2: int = 3) -> float:
    with ThreadPoolExecutor(2) as pool:
        low, high = pool.map(lambda k: render_ir(renderer, k, tenants), (k1, k2))
    return (high - low) / (k2 - k1)
