"""Build the images the Compose stack names, inside the private engine only (no registry answers here).

Image names come from the Compose files (``docker compose config``), the backend's base from backend/Dockerfile
(ARG PYTHON_IMAGE) and the backup helper from scripts/backup.sh: each stand-in is tagged with the pinned name so
the shipped files run unchanged. Programs: debootstrap (a bookworm base, once per recipe), dockerd's builder
(`docker build --network host`, reaching Debian's archive and PyPI), the Prometheus family at the pinned versions,
built from the Go module proxy by `make tools`.
Where a stand-in differs from the official image: docs/runtime-tests.md.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import REPO
from harness.docker_engine import DockerEngine

IMAGES = Path(__file__).resolve().parent / "images"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The base every stand-in starts from: Debian's minimal bookworm, busybox for `wget`, no docs or locales.
BASE_PACKAGES = ["ca-certificates", "busybox"]
BASE_RECIPE = "v1"  # bump when the trimming below changes
# Compose service -> (stand-in folder, programs from the tools folder, scripts/build-tools.sh)
STANDINS = {
    "postgres": ("postgres", []),
    "redis": ("redis", []),
    "prometheus": ("prometheus", ["prometheus"]),  # no promtool: 94 MB the stack never runs
    "alertmanager": ("alertmanager", ["alertmanager", "amtool"]),
    "node-exporter": ("node-exporter", ["node_exporter"]),
    "postgres-exporter": ("postgres-exporter", ["postgres_exporter"]),
    "redis-exporter": ("redis-exporter", ["redis_exporter"]),
    "jaeger": ("jaeger", ["jaeger"]),
    "otel-collector": ("otel-collector", ["otelcol"]),
}
# Trimmed from the base and never unpacked by later apt-get installs (as Debian's slim images do).
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def debian_mirror() -> str:
    """The archive URI this machine's apt uses (deb822 or one-line sources)."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if path.exists():
            m = re.search(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s*$", path.read_text(), re.M)
            m = m or re.search(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)\b", path.read_text(), re.M)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"


def tools_bin() -> Path:
    subprocess.run([str(REPO / "scripts" / "build-tools.sh")], capture_output=True, text=True, check=True)
    out = subprocess.run([str(REPO / "scripts" / "build-tools.sh"), "--bin"], capture_output=True,
                         text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def compose_images(compose: list[str], env: dict) -> dict[str, str]:
    """service -> image for the dev file and the prod overlay, as Compose resolves them."""
    images: dict[str, str] = {}
    # The overlay refuses to render without its secrets (`${VAR:?...}`): placeholders, for the image names only.
    required = re.findall(r"\$\{(\w+):\?", (REPO / "docker-compose.prod.yml").read_text())
    prod_env = {**env, **dict.fromkeys(required, "placeholder")}
    for files, file_env in ((["-f", "docker-compose.yml"], env),
                            (["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"], prod_env)):
        out = subprocess.run([*compose, *files, "config", "--format", "json"], cwd=REPO, env=file_env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join([*compose, *files])} config -> {out.returncode}\n{out.stderr}")
        for name, svc in json.loads(out.stdout)["services"].items():
            images.setdefault(name, set()).add(svc["image"])
    return images


def python_base_image() -> str:
    return re.search(r"^ARG PYTHON_IMAGE=(\S+)", (REPO / "backend" / "Dockerfile").read_text(), re.M).group(1)


def backup_helper_image() -> str:
    return re.search(r"^helper=(\S+)", (REPO / "scripts" / "backup.sh").read_text(), re.M).group(1)


class Builder:
    def __init__(self, engine: DockerEngine):
        self.engine = engine
        self.timings: dict[str, float] = {}

    def base(self) -> str:
        """A bookworm minbase image, made once per recipe with debootstrap and kept in the engine."""
        mirror = debian_mirror()
        key = hashlib.sha256(json.dumps([BASE_RECIPE, mirror, BASE_PACKAGES, DPKG_EXCLUDES]).encode()).hexdigest()
        tag = f"vigil-standin/base:{key[:12]}"
        if self.engine.image_exists(tag):
            return tag
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="vigil-base-", dir=self.engine.cache) as tmp:
            root = Path(tmp) / "root"
            subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                            "bookworm", str(root), mirror], check=True, capture_output=True, timeout=900)
            for junk in ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                         "usr/share/info", "usr/share/locale"]:
                shutil.rmtree(root / junk, ignore_errors=True)
            (root / "var/cache/apt/archives/partial").mkdir(parents=True)
            (root / "var/lib/apt/lists/partial").mkdir(parents=True)
            (root / "etc/dpkg/dpkg.cfg.d/excludes").write_text(DPKG_EXCLUDES)
            (root / "usr/local/bin/wget").symlink_to("/bin/busybox")  # the official images' busybox wget
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            res = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, env=self.engine.env,
                                 capture_output=True, text=True)
            tar.wait()
            if res.returncode != 0 or tar.returncode != 0:
                raise RuntimeError(f"docker import failed: {res.stderr}")
        self.timings["base"] = time.monotonic() - t0
        return tag

    def build(self, name: str, context: Path, tags: list[str], args: dict | None = None) -> None:
        """The engine's build cache makes an unchanged rebuild quick."""
        t0 = time.monotonic()
        self.engine.build(context, tags, args)
        self.timings[name] = time.monotonic() - t0

    def standin(self, folder: str, base: str, tags: list[str], files: list[Path]) -> None:
        with tempfile.TemporaryDirectory(prefix=f"vigil-ctx-{folder}-", dir=self.engine.cache) as tmp:
            ctx = Path(tmp)
            shutil.copytree(IMAGES / folder, ctx, dirs_exist_ok=True)
            for f in files:
                try:
                    (ctx / f.name).hardlink_to(f.resolve())  # no copy of 100 MB binaries when on the same disk
                except OSError:
                    shutil.copy2(f, ctx / f.name)
            self.build(folder, ctx, tags, {"BASE": base})

    def build_all(self, compose: list[str], env: dict) -> dict[str, set[str]]:
        """Every image the included services need; returns service -> image names.

        Three chains build side by side (downloads overlap with unpacking and vfs copies): the Python base then
        the backend, PostgreSQL, and Redis with the Prometheus family."""
        images = compose_images(compose, env)
        base = self.base()
        self.engine.docker("tag", base, backup_helper_image())
        bindir = tools_bin()

        def backend_chain():
            self.standin("python", base, [python_base_image()], [CA_BUNDLE])
            tags = images["backend"] | images["loadgen"] | images["alert-sink"]
            self.build("backend", REPO / "backend", sorted(tags))

        def standins(services):
            for service in services:
                folder, files = STANDINS[service]
                self.standin(folder, base, sorted(images[service]), [(bindir / f).resolve() for f in files])
        chains = [backend_chain, lambda: standins(["postgres"]),
                  lambda: standins([s for s in STANDINS if s != "postgres"])]
        with ThreadPoolExecutor(len(chains)) as pool:
            for future in [pool.submit(chain) for chain in chains]:
                future.result()
        return images
