"""The prod overlay's `preflight` job on a real Docker engine: with a development value in .env (here
POSTGRES_PASSWORD=postgres, as .env.example ships it) `up` fails and no service starts; with the secrets
`make secrets` wrote (scripts/prod-secrets.py) and the alert URLs set by hand, the job passes.

Real programs: dockerd, Compose v2, the backend image (python -m app.preflight), the stand-in images,
python3 running scripts/prod-secrets.py.
"""
from __future__ import annotations

import re
import subprocess
import sys

from harness import REPO

from .stack import PROD, PROD_EXCLUDE, Stack, env_file, host_ports, service_of, wait_for
from .test_prod_overlay import URLS, clean_project, prod_env


def test_up_refuses_a_development_secret_and_starts_nothing(engine, images, workdir):
    stack = Stack(engine, prod_env(workdir, "prod-dev-secret.env", POSTGRES_PASSWORD="postgres"),
                  PROD + PROD_EXCLUDE)
    clean_project(engine, stack.env_path)
    try:
        res = stack.compose("up", "-d", "--wait", "--no-build", "--wait-timeout", "120", check=False,
                            timeout=240)
        assert res.returncode != 0, res.stdout
        containers = {service_of(c): c["State"] for c in stack.containers()}
        job = containers.pop("preflight")
        assert job["Status"] == "exited" and job["ExitCode"] == 1, job
        logs = engine.docker("logs", stack.compose("ps", "-aq", "preflight").stdout.strip())
        assert "POSTGRES_PASSWORD still has a development value" in logs.stderr + logs.stdout, logs
        # Created, never started: every other service waits for the job to complete successfully.
        assert containers and all(s["Status"] == "created" and s["StartedAt"].startswith("0001-")
                                  for s in containers.values()), containers
    finally:
        stack.down()


def test_the_secrets_make_secrets_wrote_pass_the_job(engine, images, workdir):
    assert re.search(r"^secrets:.*\n\t@\$\(PYTHON\) scripts/prod-secrets\.py$",
                     (REPO / "mk" / "compose.mk").read_text(), re.M), "make secrets runs scripts/prod-secrets.py"
    path = env_file(workdir / "prod-make-secrets.env", {**host_ports(), **URLS})  # .env.example + the URLs
    made = subprocess.run([sys.executable, str(REPO / "scripts" / "prod-secrets.py"), "--env-file", str(path)],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Wrote 8 new secrets" in made, made
    stack = Stack(engine, path, PROD + PROD_EXCLUDE)
    clean_project(engine, stack.env_path)
    try:
        stack.compose("up", "-d", "--no-build", "preflight", timeout=240)
        job = wait_for(lambda: (state := stack.container("preflight")["State"])["Status"] == "exited" and state,
                       120, "the preflight job to finish")
        assert job["ExitCode"] == 0, stack.diagnose()
    finally:
        stack.down()
