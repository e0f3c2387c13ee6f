"""The instrumentation installed as a user installs it, into a clean virtualenv.

Real programs: python -m venv, pip (installs backend/observability as the vigil-observability
distribution, with FastAPI and uvicorn, pinned by backend/constraints.txt, from the package
index pip is configured with, its cache making repeat runs fast), and uvicorn serving a
bare FastAPI app that makes the one instrument() call. Checks /metrics, the JSON access log,
request ids, that nothing of the reference app leaks in, and the one-sentence error when
tracing is asked for without the tracing extra.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import BACKEND_DIR, Proc, free_port, http_get

PACKAGE = BACKEND_DIR / "observability"
GENERIC = {"http_server_request_duration_seconds", "http_server_active_requests",
           "app_unhandled_exceptions", "app_build_info"}

BARE_APP = '''
from fastapi import FastAPI
from observability import instrument

app = FastAPI()
instrument(app, service="bare-api", version="9.9.9")


@app.get("/hello/{name}")
async def hello(name: str):
    return {"hello": name}


@app.get("/boom")
async def boom():
    raise RuntimeError("boom")
'''


@pytest.fixture(scope="module")
def venv():
    root = Path(tempfile.mkdtemp(prefix="vigil-clean-venv-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
        python = root / "venv" / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-c", str(BACKEND_DIR / "constraints.txt"), str(PACKAGE), "fastapi", "uvicorn"],
                       check=True, timeout=600)
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text(BARE_APP)
        yield root, python
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_holds_every_module_of_the_folder(venv):
    _, python = venv
    out = subprocess.run([str(python), "-m", "pip", "show", "-f", "vigil-observability"],
                         capture_output=True, text=True, check=True).stdout
    installed = set(re.findall(r"^\s+observability/(\w+\.py)$", out, re.M))
    assert installed == {p.name for p in PACKAGE.glob("*.py")}


def test_bare_app_metrics_logs_and_request_ids(venv):
    root, python = venv
    port = free_port()
    # Run from the app's folder: only the installed package and the bare app are importable.
    proc = Proc("bare-app", [str(python), "-m", "uvicorn", "main:app", "--port", str(port)],
                cwd=str(root / "app"), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "", "PYTHONPATH": ""}).start()
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/hello/x")
        import urllib.request
        with urllib.request.urlopen(urllib.request.Request(base + "/hello/ann",
                                                           headers={"X-Request-ID": "abc-123"})) as r:
            assert r.headers["X-Request-ID"] == "abc-123"
        with urllib.request.urlopen(base + "/hello/bob") as r:
            assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
        assert http_get(base + "/boom")[0] == 500
        status, body = http_get(base + "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        ours = {n for n in families if not n.startswith(("process_", "python_"))}
        assert ours == GENERIC, "only the generic series: no business metrics, no db_pool_* without a database"
        routes = {s.labels["http_route"] for s in families["http_server_request_duration_seconds"].samples}
        assert routes == {"/hello/{name}", "/boom"}
        assert [s.labels for s in families["app_build_info"].samples] == [{"service": "bare-api", "version": "9.9.9"}]
        assert families["app_unhandled_exceptions"].samples[0].labels == {"exception_type": "RuntimeError"}
    finally:
        proc.stop()
    lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
    os.unlink(proc.log_path)
    access = [line for line in lines if line["logger"] == "access"]
    ann = next(line for line in access if line["path"] == "/hello/ann")
    assert ann["request_id"] == "abc-123" and ann["route"] == "/hello/{name}" and ann["status"] == 200
    assert ann["service"] == "bare-api"
    assert any(line["path"] == "/boom" and line["status"] == 500 for line in access)


def test_tracing_without_the_extra_names_it_in_one_sentence(venv):
    root, python = venv
    result = subprocess.run([str(python), "-c", "import main"], cwd=root / "app", capture_output=True,
                            text=True, timeout=60, env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("observability.extras.MissingExtra: Tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT is set or "
                    "tracing=True), but the OpenTelemetry SDK is not installed: "
                    "pip install 'vigil-observability[tracing]'.")
    assert "ModuleNotFoundError" not in result.stderr


def test_sentry_without_the_extra_names_it_in_one_sentence(venv):
    root, python = venv
    result = subprocess.run([str(python), "-c", "from observability.sentry import init_sentry; init_sentry('bare')"],
                            cwd=root / "app", capture_output=True, text=True, timeout=60,
                            env={"SENTRY_DSN": "http://key@127.0.0.1:9/1"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "observability.extras.MissingExtra: Error reporting is on (SENTRY_DSN is set), but the Sentry SDK "
        "is not installed: pip install 'vigil-observability[sentry]'.")
