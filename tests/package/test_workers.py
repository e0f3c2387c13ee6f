"""Several workers, with the exact command lines of docs/instrumenting-your-app.md ("Several workers").

Real programs: python -m venv and pip (the package installed from the repository path, with uvicorn,
gunicorn and uvicorn-worker pinned by backend/constraints.txt), `uvicorn --workers 2` and
`gunicorn -c python:observability.workers` serving the bare app. PROMETHEUS_MULTIPROC_DIR names a folder
that does not exist yet (it crash-looped with FileNotFoundError ... gauge_max_<pid>.db before): requests
are sent until both workers have answered, and /metrics, served by either worker, counts every request.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import REPO, Proc, free_port, http_get, wait_until

GUIDE = REPO / "docs" / "instrumenting-your-app.md"
# The guide's command lines (port 8000 there): the test runs what the guide says, on a free port.
COMMANDS = {
    "uvicorn": "python -m observability.workers && uvicorn main:app --workers 2 --port {port}",
    "gunicorn": "gunicorn -c python:observability.workers -k uvicorn_worker.UvicornWorker -w 2 "
                "-b 127.0.0.1:{port} main:app",
    # Without the parent's wipe, and the folder missing: each worker creates it (no FileNotFoundError).
    "uvicorn-no-wipe": "uvicorn main:app --workers 2 --port {port}",
}


def documented(server: str, port: int) -> str:
    lines = GUIDE.read_text().splitlines()
    assert server == "uvicorn-no-wipe" or COMMANDS[server].format(port=8000) in lines, f"{GUIDE.name} gives this command line: {COMMANDS[server]}"
    return COMMANDS[server].format(port=port)


def route_count(body: str, route: str) -> float:
    for family in text_string_to_metric_families(body):
        if family.name == "http_server_request_duration_seconds":
            return sum(s.value for s in family.samples
                       if s.name.endswith("_count") and s.labels["http_route"] == route)
    return 0.0


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "uvicorn-no-wipe"])
def test_metrics_sum_both_workers(venv, server):
    root, python = venv
    tmp = Path(tempfile.mkdtemp(prefix=f"vigil-{server}-workers-"))
    mpdir = tmp / "not-yet" / "metrics"  # missing, parent included
    stale = mpdir.parent / "stale"
    port = free_port()
    command = documented(server, port)
    env = {"PATH": f"{python.parent}:{os.environ['PATH']}", "PROMETHEUS_MULTIPROC_DIR": str(mpdir),
           "OTEL_EXPORTER_OTLP_ENDPOINT": "", "PYTHONPATH": ""}
    wiped = server != "uvicorn-no-wipe"
    if wiped:
        # A previous run's sample file must be wiped once by the parent; a file of another kind stays.
        mpdir.mkdir(parents=True)
        shutil.copy(_sample_file(python, root, stale), mpdir / "histogram_999999.db")
        (mpdir / "notes.txt").write_text("not a sample file")
    proc = Proc(f"{server}-workers", ["bash", "-c", command], cwd=str(root / "app"), env=env).start()
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/metrics")  # not counted (skip_paths)
        pids: Counter = Counter()

        def both_answered():
            with urllib.request.urlopen(base + "/pid", timeout=5) as r:
                pids[json.load(r)["pid"]] += 1
            return len(pids) == 2
        # Each request opens a new connection, so the kernel spreads them over the two workers' accepts.
        wait_until(both_answered, timeout=60, interval=0.01, message="both workers answering")
        sent = sum(pids.values())
        # The middleware records a request as its response ends: the client may read it a moment before.
        wait_until(lambda: route_count(http_get(base + "/metrics")[1].decode(), "/pid") == sent, timeout=15,
                   message=f"/metrics to count the {sent} requests")
        for _ in range(4):  # any worker serves the sum of both
            status, body = http_get(base + "/metrics")
            assert status == 200
            assert route_count(body.decode(), "/pid") == sent, body.decode()[:2000]
        workers = {int(m) for m in re.findall(r"_(\d+)\.db$", "\n".join(os.listdir(mpdir)), re.M)}
        assert set(pids) <= workers and 999999 not in workers
        if wiped:
            assert (mpdir / "notes.txt").exists()
    finally:
        proc.stop()
        log = proc.log()
        os.unlink(proc.log_path)
        shutil.rmtree(tmp, ignore_errors=True)
    assert "FileNotFoundError" not in log and "Traceback" not in log, log[-3000:]


def _sample_file(python: Path, root: Path, folder: Path) -> Path:
    """A real histogram file of another process, with one count of /pid: summed in if the wipe missed it."""
    folder.mkdir(parents=True)
    code = ("from observability import metrics; metrics.HTTP_REQUEST_DURATION.labels("
            "http_request_method='GET', http_route='/pid', http_response_status_code='200').observe(0.1)")
    subprocess.run([str(python), "-c", code], cwd=root / "app", check=True, timeout=60,
                   env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": os.environ["PATH"]})
    (name,) = [n for n in os.listdir(folder) if n.startswith("histogram_")]
    return folder / name
