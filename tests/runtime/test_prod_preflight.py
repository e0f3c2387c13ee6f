"""The prod overlay's `preflight` job on a real Docker engine: with a development value in .env (here
POSTGRES_PASSWORD=postgres, as .env.example ships it) `up` fails and no service starts.

Real programs: dockerd, Compose v2, the backend image (python -m app.preflight), the stand-in images.
"""
from __future__ import annotations

from .stack import PROD, PROD_EXCLUDE, Stack, service_of
from .test_prod_overlay import clean_project, prod_env


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
