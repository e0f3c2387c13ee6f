"""The backend image's recipe, `make up`, the helper scripts and a secret scan of what git would commit.

Real programs: GNU make (`make -n up`, and `make up` with no `docker` on PATH, in a scratch copy of the repo so
no .env is created here), the docker CLI with no daemon behind DOCKER_HOST, bash (`bash -n` on the scripts), git (`ls-files`), the image's entrypoint.py run as a
process that execs Python, and SQLAlchemy parsing the DATABASE_URL it produced.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .stack import ROOT

DOCKERFILE = (ROOT / "backend" / "Dockerfile").read_text()


def test_image_installs_the_dependency_set_the_tests_use():
    # The tests' venv: `make venv` installs requirements-dev.txt (which includes requirements.txt) -c constraints.txt.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-r backend/requirements-dev\.txt -c backend/constraints\.txt", makefile)
    assert "-r requirements.txt" in (ROOT / "backend" / "requirements-dev.txt").read_text()
    # The image: the same requirements.txt, pinned by the same constraints.txt.
    assert re.search(r"^COPY requirements\.txt constraints\.txt (\S+)/$", DOCKERFILE, re.M)
    install = re.search(r"^RUN .*pip install (.*)$", DOCKERFILE, re.M).group(1)
    assert re.search(r"-r \S*/requirements\.txt -c \S*/constraints\.txt$", install), install
    # ... for the same Python minor version (the constraints were resolved for it).
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-", DOCKERFILE, re.M).group(1)
    assert base == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_image_is_multi_stage_non_root_and_carries_every_entry_point():
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) >= 2
    assert re.search(r"^COPY --from=build ", DOCKERFILE, re.M)
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    copied = " ".join(re.findall(r"^COPY (?!--from)(.*)$", DOCKERFILE, re.M))
    for needed in ("app/", "observability/", "loadgen/", "alert_sink/", "gunicorn.conf.py", "entrypoint.py"):
        assert needed in copied and (ROOT / "backend" / needed).exists(), needed
    ignored = (ROOT / "backend" / ".dockerignore").read_text().split()
    assert ".env" in ignored and "*.db" in ignored


@pytest.mark.parametrize("password", ["plain", "p@ss:w/rd%?#&=+ é"])
def test_entrypoint_adds_the_password_from_its_file(tmp_path, password):
    secret = tmp_path / "app_db_password"
    secret.write_text(password + "\n")  # a trailing newline, as `echo > file` leaves
    env = {**os.environ, "DATABASE_URL": "postgresql+psycopg2://vigil@postgres:5432/vigil",
           "DATABASE_PASSWORD_FILE": str(secret)}
    code = ("import os, sqlalchemy; u = sqlalchemy.make_url(os.environ['DATABASE_URL']); "
            "print(repr((u.username, u.password, u.host, u.port, u.database)))")
    out = subprocess.run([sys.executable, str(ROOT / "backend" / "entrypoint.py"), sys.executable, "-c", code],
                         env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == repr(("vigil", password, "postgres", 5432, "vigil"))


def test_entrypoint_reads_an_absent_secret_file_as_empty(tmp_path):
    """Compose creates no file for a secret whose variable is empty (prod's SENTRY_DSN by default)."""
    token = tmp_path / "admin_token"
    token.write_text("a-real-admin-token\n")
    env = {**os.environ, "SENTRY_DSN_FILE": str(tmp_path / "sentry_dsn"), "ADMIN_TOKEN_FILE": str(token),
           "SENTRY_DSN": "stale"}
    code = "import os; print(repr((os.environ['SENTRY_DSN'], os.environ['ADMIN_TOKEN'])))"
    out = subprocess.run([sys.executable, str(ROOT / "backend" / "entrypoint.py"), sys.executable, "-c", code],
                         env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == repr(("", "a-real-admin-token"))


def _make(args, cwd, env=None, timeout=60):
    """Run make as a user would: not as a sub-make of `make test` (no "Entering directory" lines)."""
    env = {k: v for k, v in (env or os.environ).items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(["make", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_make_n_up_shows_the_steps():
    out = _make(["-n", "up"], ROOT).stdout
    steps = out.splitlines()
    assert steps[0] == "scripts/preflight.sh dev"
    assert re.match(r"docker compose up -d --build --wait", steps[1])
    assert steps[2] == "scripts/urls.sh"


def test_make_help_shows_values_not_variable_names():
    out = _make(["help", "PORT=8123"], ROOT).stdout
    assert "127.0.0.1:8123" in out and "$(" not in out and "secrets" in out and "package" in out


def path_without(program: str, folder: Path) -> Path:
    """A folder of symlinks to every program on PATH but ``program``: PATH as it is, minus one tool.
    (Dropping the folders that hold ``program`` would drop make too where both sit in /usr/bin.)"""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name != program and not link.exists() and os.access(entry.path, os.X_OK) \
                    and not entry.is_dir():
                link.symlink_to(entry.path)
    assert shutil.which(program, path=str(folder)) is None and shutil.which("make", path=str(folder))
    return folder


def test_make_up_without_docker_prints_one_sentence_and_fails(tmp_path):
    # A scratch copy, so that the run cannot create .env in the repository.
    for name in ("Makefile", ".env.example", "docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("mk", "scripts"):
        shutil.copytree(ROOT / name, tmp_path / name)
    env = {**os.environ, "PATH": str(path_without("docker", tmp_path / "bin"))}
    # `up` and every target that acts on the stack run the same preflight, named in its sentence.
    for target in ("up", "prod-up", "down", "restart", "ps", "logs", "backup", "restore", "clean"):
        proc = _make([target, "f=backups/none.tar.gz"], tmp_path, env=env)
        assert proc.returncode != 0, target
        ours = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line and not line.startswith("make: ***")]
        assert len(ours) == 1 and "Docker is not installed" in ours[0], (target, ours)
        assert f"run 'make {target}' again" in ours[0], (target, ours)
    assert not (tmp_path / ".env").exists()


def test_unreachable_docker_shows_dockers_own_error_under_the_sentence(tmp_path):
    """The real docker CLI (docker.io, which the runtime suite needs) pointed at a socket nobody serves."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
    proc = subprocess.run(["scripts/preflight.sh", "docker", "ps"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == ("Docker is installed but its daemon is not reachable: start Docker (or add your user to "
                        "the 'docker' group), then run 'make ps' again."), lines
    assert lines[1].startswith("Docker said: ") and f"{tmp_path}/no-daemon.sock" in proc.stderr, lines


def test_scripts_parse_and_back_up_volumes_that_exist():
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
    compose = (ROOT / "docker-compose.yml").read_text()
    for script in ("backup.sh", "restore.sh"):
        pairs = re.search(r'^volumes="(.*)"$', (ROOT / "scripts" / script).read_text(), re.M).group(1).split()
        for pair in pairs:
            service, volume = pair.split(":")
            assert re.search(rf"^  {re.escape(service)}:$", compose, re.M), service
            assert re.search(rf"- {re.escape(volume)}:", compose), volume
    assert "pg_dump" in (ROOT / "scripts" / "backup.sh").read_text()


def test_make_test_without_redis_names_the_package_in_one_sentence(tmp_path):
    env = {**os.environ, "PATH": str(path_without("redis-server", tmp_path / "bin")), "CI": ""}
    proc = _make(["test"], ROOT, env=env)
    assert proc.returncode != 0
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if line and not line.startswith("make: ***")]
    assert ours == ["make test needs redis-server: install with 'sudo apt-get install redis-server', "
                    "then run it again."], ours


def test_env_is_read_by_one_helper():
    """scripts/lib/env.sh is the one reader of .env: no script or make recipe parses it on its own."""
    readers = [p for p in [*(ROOT / "scripts").rglob("*.sh"), *(ROOT / "mk").glob("*.mk"), ROOT / "Makefile"]
               if re.search(r"s/\^[^/]*=//p", p.read_text())]
    assert readers == [ROOT / "scripts" / "lib" / "env.sh"], readers
    users = [p.name for p in [*(ROOT / "scripts").glob("*.sh"), *(ROOT / "mk").glob("*.mk")]
             if "env_value" in p.read_text()]
    assert {"urls.sh", "preflight.sh", "demo-alert.sh", "superset.mk"} <= set(users), users


# --- secret scan -------------------------------------------------------------------------------------------------

TOKEN_PATTERNS = {
    "Slack webhook": r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}",
    "Slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
    "Grafana token": r"\bglsa_[A-Za-z0-9]{32}",
    "API key": r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}",
    "Sentry DSN with key": r"https://[0-9a-f]{32}@[a-z0-9.-]+/\d+",
}
ASSIGNMENT = re.compile(r"(?i)\b\w*(?:password|passwd|secret|token|api_?key)s?\b['\"]?[ \t]*[:=][ \t]*['\"]?([^\s'\"`,;)]+)")


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def findings(text: str) -> list[str]:
    found = [kind for kind, pattern in TOKEN_PATTERNS.items() if re.search(pattern, text)]
    for value in ASSIGNMENT.findall(text):
        # A literal, long and random-looking: not a ${VAR}, a file path, a function call or a placeholder.
        if len(value) >= 16 and entropy(value) >= 3.8 and not re.search(r"[${}(/<\[]", value):
            found.append(f"assigned value {value[:4]}...")
    return found


def test_the_scanner_recognises_secrets():
    fake = {"Slack webhook": "https://hooks.slack.com/services/" + "T0ABCDEF1/B0ABCDEF2/" + "a1B2c3D4e5F6g7H8i9J0k1L2",
            "AWS access key": "AKIA" + "Z7QH3K2M9XW4P8LD",
            "assigned": "DB_PASSWORD=" + "Xk29fQ7pLmZ3vR8tWq1N"}
    for kind, text in fake.items():
        assert findings(text), kind
    for harmless in ("GRAFANA_ADMIN_PASSWORD=admin", "password: ${GRAFANA_DB_PASSWORD}",
                     "DATA_SOURCE_PASS_FILE: /run/secrets/exporter_db_password", "SLACK_WEBHOOK_URL=http://alert-sink:9099/slack"):
        assert not findings(harmless), harmless


def test_no_secret_is_committed():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True, timeout=30).stdout.split("\0")
    problems = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        problems += [f"{name}: {kind}" for kind in findings(text)]
    assert len(files) > 20
    assert not problems, problems
