"""`make secrets`: random production secrets in .env, only for enabled profiles, never replacing a value.

Real programs: GNU make (`make secrets` in a scratch copy of the repository, so no .env is written here),
python3 running scripts/secrets.py, and the prod preflight's check (backend/app/preflight.py --env-file,
exactly as scripts/preflight.sh prod calls it) on the result.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .stack import PROD_REQUIRED, ROOT

sys.path.insert(0, str(ROOT / "backend"))
from app.preflight import read_env_file  # noqa: E402

BY_HAND = [n for n in PROD_REQUIRED if n.endswith("_URL")]
BI = [n for n in PROD_REQUIRED if n.startswith("SUPERSET_")]
GENERATED = [n for n in PROD_REQUIRED if n not in BY_HAND + BI]
URLS = {"SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/x",
        "HEARTBEAT_URL": "https://hc-ping.example/1f2e", "ESCALATION_WEBHOOK_URL": "https://oncall.example/hook"}


@pytest.fixture
def repo(tmp_path):
    for name in ("Makefile", ".env.example", "docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("mk", "scripts"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "backend" / "app").mkdir(parents=True)
    for name in ("__init__.py", "preflight.py"):
        shutil.copy(ROOT / "backend" / "app" / name, tmp_path / "backend" / "app" / name)
    return tmp_path


def make_secrets(repo: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "COMPOSE_PROFILES", *PROD_REQUIRED)}
    proc = subprocess.run(["make", "-s", "secrets"], cwd=repo, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def preflight(repo: Path, **env: str) -> subprocess.CompletedProcess:
    """The prod check of scripts/preflight.sh (its line is asserted below), on the scratch copy's .env."""
    clean = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROFILES", *PROD_REQUIRED)}
    return subprocess.run(["python3", "backend/app/preflight.py", "--defaults", ".env.example", "--env-file", ".env"],
                          cwd=repo, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def set_by_hand(repo: Path, **values: str) -> None:
    with open(repo / ".env", "a") as f:
        f.writelines(f"{k}={v}\n" for k, v in values.items())


def test_preflight_sh_prod_runs_this_check():
    assert ("python3 backend/app/preflight.py --defaults .env.example --env-file .env"
            in (ROOT / "scripts" / "preflight.sh").read_text())


def test_generates_each_secret_once_and_the_preflight_accepts_them(repo):
    dev = read_env_file(ROOT / ".env.example")
    out = make_secrets(repo)
    env = read_env_file(repo / ".env")
    made = {n: env[n] for n in GENERATED}
    for name, value in made.items():
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), name  # 32 random bytes, url-safe
        assert value not in out, "printed a secret"
    assert len(set(made.values())) == len(made), "every secret is its own"
    assert all(env[n] == dev[n] for n in BI + BY_HAND), "bi is off: Superset's untouched; URLs are not made up"
    assert f"Wrote {len(GENERATED)} new secrets to .env" in out and ", ".join(GENERATED) in out
    assert "COMPOSE_PROFILES=bi make secrets" in out and ", ".join(BY_HAND) in out
    assert (repo / ".env").stat().st_mode & 0o077 == 0

    # Until the alert URLs are set by hand, the preflight refuses them (and only them).
    refused = preflight(repo)
    assert refused.returncode == 1
    assert sorted(re.findall(r"^(\w+) still has a development value", refused.stderr, re.M)) == sorted(BY_HAND)
    set_by_hand(repo, **URLS)
    assert preflight(repo).returncode == 0, preflight(repo).stderr
    # With bi on, Superset's development values are refused again.
    assert sorted(re.findall(r"^(\w+) still", preflight(repo, COMPOSE_PROFILES="bi").stderr, re.M)) == sorted(BI)

    before = (repo / ".env").read_bytes()
    again = make_secrets(repo)
    assert "Wrote nothing" in again and (repo / ".env").read_bytes() == before
    assert f"Already set, kept: {', '.join(n for n in PROD_REQUIRED if n in GENERATED + BY_HAND)}." in again


def test_bi_profile_and_a_value_of_yours(repo):
    shutil.copy(repo / ".env.example", repo / ".env")
    set_by_hand(repo, POSTGRES_PASSWORD="my-own-postgres-password-kept-as-is", COMPOSE_PROFILES="bi", **URLS)
    out = make_secrets(repo)
    env = read_env_file(repo / ".env")
    assert env["POSTGRES_PASSWORD"] == "my-own-postgres-password-kept-as-is"
    assert "Already set, kept: POSTGRES_PASSWORD, " in out
    written = [n for n in PROD_REQUIRED if n not in BY_HAND and n != "POSTGRES_PASSWORD"]
    assert f"Wrote {len(written)} new secrets to .env (mode 600): {', '.join(written)}." in out
    assert all(len(env[n]) == 43 for n in BI)
    assert (repo / ".env").read_text().count("POSTGRES_PASSWORD=") == 2, "replaced in place, not appended"
    assert preflight(repo).returncode == 0
