"""The instrumentation installed as a user installs it, into a clean virtualenv.

Real programs: python -m venv, pip (installs backend/observability as the vigil-stack-instrumentation
distribution, with FastAPI and uvicorn, pinned by backend/constraints.txt, from the package
index pip is configured with, its cache making repeat runs fast), git, make, and uvicorn serving a
bare FastAPI app that makes the one instrument() call. Each documented way to install is tried in
a clean virtualenv: the repository path, a git subdirectory URL, and the wheel `make package` builds. Checks /metrics, the JSON access log,
request ids, that nothing of the reference app leaks in, and the one-sentence error when
tracing is asked for without the tracing extra.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import REPO, Proc, free_port, http_get

from .installs import DISTRIBUTION, PACKAGE, make_venv

GENERIC = {"http_server_request_duration_seconds", "http_server_active_requests",
           "app_unhandled_exceptions", "app_build_info"}


def test_the_wheel_holds_every_module_of_the_folder(venv):
    _, python = venv
    out = subprocess.run([str(python), "-m", "pip", "show", "-f", DISTRIBUTION],
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
    assert last == ("observability.extras.MissingExtra: Tracing is on (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set or "
                    "tracing=True), but the OpenTelemetry SDK is not installed: "
                    "install the 'tracing' extra, e.g. pip install './backend/observability[tracing]' in a Vigil checkout.")
    assert "ModuleNotFoundError" not in result.stderr


def test_sentry_without_the_extra_names_it_in_one_sentence(venv):
    root, python = venv
    result = subprocess.run([str(python), "-c", "from observability.sentry import init_sentry; init_sentry('bare')"],
                            cwd=root / "app", capture_output=True, text=True, timeout=60,
                            env={"SENTRY_DSN": "http://key@127.0.0.1:9/1"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "observability.extras.MissingExtra: Error reporting is on (SENTRY_DSN is set), but the Sentry SDK "
        "is not installed: install the 'sentry' extra, e.g. pip install './backend/observability[sentry]' in a "
        "Vigil checkout.")


def _serve_and_check(root: Path, python: Path) -> None:
    """uvicorn serves the bare app; /metrics has its request; the installed version is __version__."""
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, observability as o; "
                            f"print(m.version({DISTRIBUTION!r}), o.__version__)"],
        cwd=root / "app", capture_output=True, text=True, check=True).stdout.split()
    assert version[0] == version[1], version
    assert f'version = "{version[0]}"' not in (PACKAGE / "pyproject.toml").read_text(), "one place: __init__.py"
    port = free_port()
    proc = Proc("bare-app", [str(python), "-m", "uvicorn", "main:app", "--port", str(port)],
                cwd=str(root / "app"), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "", "PYTHONPATH": ""}).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/hello/x")
        body = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert 'app_build_info{service="bare-api",version="9.9.9"} 1.0' in body
        assert re.search(r'http_server_request_duration_seconds_count\{[^}]*http_route="/hello/\{name\}"[^}]*\} 1.0',
                         body), body
    finally:
        proc.stop()
        os.unlink(proc.log_path)


def _git_source(tmp: Path) -> str:
    """A git repository holding the working tree's backend/observability (committed or not), as a
    file:// URL: what `pip install "...@ git+https://<your clone>.git#subdirectory=..."` fetches."""
    repo = tmp / "vigil.git"
    shutil.copytree(PACKAGE, repo / "backend" / "observability",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@vigil.invalid", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    # file://localhost/...: the packaging library in the venv's pip (23.2) refuses an empty host.
    return f"{DISTRIBUTION} @ git+file://localhost{repo}#subdirectory=backend/observability"


def _wheel(tmp: Path) -> str:
    dist = tmp / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # as a user runs it
    out = subprocess.run(["make", "-s", "package", f"DIST={dist}"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    wheels = list(dist.glob("vigil_stack_instrumentation-*-py3-none-any.whl"))
    assert len(wheels) == 1 and out.stdout.strip() == str(wheels[0]), (wheels, out.stdout)
    return str(wheels[0])


@pytest.mark.parametrize("way", ["git-subdirectory", "wheel"])
def test_installs_from_git_and_from_the_wheel(way):
    tmp = Path(tempfile.mkdtemp(prefix=f"vigil-install-{way}-"))
    try:
        requirement = _git_source(tmp) if way == "git-subdirectory" else _wheel(tmp)
        python = make_venv(tmp, requirement)
        _serve_and_check(tmp, python)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_installs_from_the_repository_path(venv):
    _serve_and_check(*venv)
