"""`make demo-alert` (scripts/demo-alert.sh) against a real backend.

Real programs: GNU make and bash running the script (curl inside it) in a scratch copy of the repository
whose .env names the API key, and the reference backend (uvicorn, SQLite) that must receive the faults,
answer with them while the demo runs, and have them cleared when it ends.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

from harness import REPO, free_port, http_get, wait_until

API_KEY = "demo-key-1"


def scratch_repo(tmp_path, env_lines: str):
    for name in ("mk", "scripts"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".env").write_text(env_lines)
    return tmp_path


def make_demo(cwd, backend_url: str, seconds: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.Popen(["make", "demo-alert", f"DEMO_SECONDS={seconds}", f"DEMO_BACKEND={backend_url}"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def faults(base: str) -> dict:
    return json.loads(http_get(base + "/api/admin/faults")[1])


def test_demo_alert_sets_faults_with_the_env_key_and_clears_them(backend_factory, tmp_path):
    backend = backend_factory(env={"API_KEYS": f"{API_KEY},second-key"})
    repo = scratch_repo(tmp_path, f"API_KEYS={API_KEY},other\nBACKEND_PORT=1\n")
    demo = make_demo(repo, backend.base_url, seconds=4)
    try:
        # Set with the first key of .env (the backend refuses PUT without a valid key).
        live = wait_until(lambda: faults(backend.base_url)["active"] and faults(backend.base_url), 15,
                          message="the demo's faults on the backend")
        assert live["http_error_rate"] == 0.3 and live["providers"]["openai"]["failure_rate"] == 1.0
        out, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err
    assert "For 4 s: 30% of /api requests answer 503" in out
    assert "Faults cleared" in out
    assert faults(backend.base_url)["active"] is False


def test_demo_alert_without_a_backend_says_so_in_one_sentence(tmp_path):
    repo = scratch_repo(tmp_path, "")
    demo = make_demo(repo, f"http://127.0.0.1:{free_port()}", seconds=4)
    out, err = demo.communicate(timeout=30)
    assert demo.returncode != 0
    ours = [line for line in err.splitlines() if line and not line.startswith(("make: ***", "curl:"))]
    assert ours == [f"Cannot set faults through {demo.args[3].split('=', 1)[1]}/api/admin/faults: "
                    "is the stack up ('make up')?"], err
