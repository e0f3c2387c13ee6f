"""A private Docker engine for the runtime tests: Debian's dockerd (docker.io), started and stopped by PID.

The engine keeps its images in a cache folder outside the repository (VIGIL_DOCKER_CACHE, default
~/.cache/vigil/docker/engine) so a second run reuses the stand-in images; its sockets and runtime state live in
a temporary folder removed at stop. vfs storage and --iptables=false/--bridge=none: it touches neither the
host's firewall nor a Docker the host may already run. One run at a time holds the cache (a file lock).
Needs root and `dockerd` on PATH (apt-get install docker.io debootstrap).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .procs import Proc, wait_until

CACHE = Path(os.environ.get("VIGIL_DOCKER_CACHE", Path.home() / ".cache" / "vigil" / "docker"))


def unavailable_reason() -> str | None:
    """Why no engine can be started here, or None when one can."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in ("dockerd", "docker", "debootstrap", "unshare"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install docker.io debootstrap)"
    return None


class DockerEngine:
    """dockerd on a private socket. ``docker()``/``compose()`` run clients against it."""

    def __init__(self, cache: Path = CACHE):
        self.cache = cache
        self.data_root = cache / "engine"
        self.run_dir = Path(tempfile.mkdtemp(prefix="vigil-dockerd-", dir="/tmp"))  # short: socket path limit
        self.socket = self.run_dir / "docker.sock"
        # A private client config: Compose v2 as the `docker compose` plugin, no credentials of the host's user.
        self.config_dir = self.run_dir / "client"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.config_dir)}
        self.proc: Proc | None = None
        self._lock = None

    def start(self, compose_binary: str | None = None, timeout: float = 60) -> "DockerEngine":
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.cache / "engine.lock", "w")

        def locked():  # another test run on this machine holds the cache: wait for it to finish
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        wait_until(locked, 1800, interval=2, message=f"the Docker engine cache {self.cache} to be free")
        if compose_binary:
            plugins = self.config_dir / "cli-plugins"
            plugins.mkdir(parents=True)
            (plugins / "docker-compose").symlink_to(compose_binary)
        # Its own mount namespace with shared propagation: the `rslave` bind that node-exporter's Compose
        # service asks for needs a shared "/", which many CI sandboxes do not have; and every mount the
        # engine makes disappears with it. `unshare` execs dockerd, so the PID is dockerd's.
        self.proc = Proc("dockerd", [
            "unshare", "--mount", "--propagation", "shared",
            "dockerd", "--data-root", str(self.data_root), "--exec-root", str(self.run_dir / "exec"),
            "--pidfile", str(self.run_dir / "dockerd.pid"), "--host", f"unix://{self.socket}",
            "--storage-driver", "vfs", "--iptables=false", "--ip-masq=false", "--bridge=none",
            "--log-level=warn",
        ]).start()

        def ready():
            if not self.proc.alive():
                raise RuntimeError(f"dockerd exited:\n{self.proc.log()[-3000:]}")
            return self.socket.exists() and self.docker("info", check=False).returncode == 0
        wait_until(ready, timeout, interval=0.3, message="dockerd to answer")
        self.reset()
        return self

    def reset(self) -> None:
        """Remove containers, networks and volumes a crashed earlier run may have left (images stay)."""
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids)
        self.docker("network", "prune", "-f")
        self.docker("image", "prune", "-f")  # untagged leftovers of earlier builds
        self.docker("volume", "prune", "-f", check=False)  # 20.10: prunes anonymous and named volumes

    def docker(self, *args: str, check: bool = True, input: bytes | str | None = None,
               timeout: float = 900, **kw) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        res = subprocess.run(["docker", *args], env={**self.env, **kw.pop("env", {})}, input=input,
                             capture_output=True, text=text, timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def build(self, context: Path, tags: list[str], args: dict | None = None, timeout: float = 1200) -> None:
        """`docker build --network host` with BuildKit: one layer per RUN/COPY, no container per instruction
        (the classic builder copies the whole root file system for each one on vfs). BuildKit needs the
        client of the engine's own release (docker.io's /usr/bin/docker) when the newer CLI lacks buildx."""
        client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
        argv = [client, "build", "--network", "host", "-q"]
        for k, v in (args or {}).items():
            argv += ["--build-arg", f"{k}={v}"]
        for t in tags:
            argv += ["-t", t]
        res = subprocess.run([*argv, str(context)], env={**self.env, "DOCKER_BUILDKIT": "1"}, capture_output=True,
                             text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"docker build {context} -> {res.returncode}\n{res.stderr[-4000:]}")

    def image_exists(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def inspect(self, ref: str) -> dict:
        return json.loads(self.docker("inspect", ref).stdout)[0]

    def disk_usage(self) -> int:
        """Bytes under the data root (vfs stores every layer and container as a full copy)."""
        out = subprocess.run(["du", "-sb", str(self.data_root)], capture_output=True, text=True)
        return int(out.stdout.split()[0]) if out.returncode == 0 else 0

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to dockerd alone (it stops its containers and its containerd), then wait; SIGKILL last."""
        if self.proc and self.proc.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.stop(5)  # the whole process group
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.proc:
            Path(self.proc.log_path).unlink(missing_ok=True)
        if self._lock:
            self._lock.close()
            self._lock = None
