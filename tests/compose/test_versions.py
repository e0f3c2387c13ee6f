"""The programs the tests run are the releases docker-compose.yml ships, to the patch version.

Real programs: scripts/build-tools.sh (make tools), which builds Prometheus, promtool, Alertmanager,
amtool, the node, postgres and redis exporters, Jaeger and the OpenTelemetry Collector from the Go
module proxy at the pinned versions, then runs each binary's --version; this test compares what the
binaries report with the image tags in docker-compose.yml (and the collector's with its builder
manifest, otelcol/builder.yaml). Every other image names the reason it is not run here.
"""
from __future__ import annotations

import re
import subprocess

import yaml

from harness import REPO

# Compose service -> the built programs that stand for its image in the tests.
TESTED_AS = {
    "prometheus": ["prometheus", "promtool"],
    "alertmanager": ["alertmanager", "amtool"],
    "node-exporter": ["node_exporter"],
    "postgres-exporter": ["postgres_exporter"],
    "redis-exporter": ["redis_exporter"],
    "jaeger": ["jaeger"],
}
# The collector's image, wherever a Compose service uses it (directly or as otelcol/Dockerfile's base, built as
# vigil-otelcol:<release>): it must ship the manifest's release.
COLLECTOR_IMAGES = ("otel/opentelemetry-collector-contrib", "otel/opentelemetry-collector", "vigil-otelcol")
# Images the tests cannot run, with the reason; their files are checked by cross-reference instead.
NOT_RUN = {
    "grafana/grafana": "AGPL, not served by the Go module proxy (dashboards: queries run on the real Prometheus)",
    "grafana/loki": "AGPL, not served by the Go module proxy (Alloy's labels checked against real log lines)",
    "grafana/alloy": "its shipped main is a nested module with 24 replace directives: not buildable from the proxy",
    "vigil-mimir": "Mimir is AGPL, not served by the Go module proxy (the image is built in the runtime suite)",
    "postgres": "the tests run the machine's PostgreSQL (Debian's package), a different major than the image",
    "redis": "the tests run the machine's redis-server (Debian's package), a different version than the image",
    "vigil-backend": "the project's own image: its code is what every test runs",
    "vigil-superset": "the project's own image: the tests run the same Superset release from PyPI",
    "tecnativa/docker-socket-proxy": "an HAProxy config in an image, run only by the Docker runtime suite",
}


def parse(version: str) -> tuple[int, int, int]:
    """"v1.88.0-alpine" or "3.13.5" -> (1, 88, 0)."""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version)
    assert m, f"not a version: {version!r}"
    return tuple(int(x) for x in m.groups())


class ComposeLoader(yaml.SafeLoader):
    """Reads Compose's merge tags (!reset, !override) as their plain values."""


ComposeLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_scalar(node)))


def compose_images() -> dict[str, str]:
    """{service: image} of docker-compose.yml and its prod overlay."""
    images = {}
    for name in ("docker-compose.yml", "docker-compose.prod.yml"):
        services = yaml.load((REPO / name).read_text(), Loader=ComposeLoader).get("services", {})
        images.update({svc: spec["image"] for svc, spec in services.items() if spec and "image" in spec})
    return images


def pinned_versions() -> dict[str, str]:
    """{program: pinned version}: from the Compose image tags, the collector's from its manifest."""
    images = compose_images()
    pinned = {program: images[service].rsplit(":", 1)[1]
              for service, programs in TESTED_AS.items() for program in programs}
    pinned["otelcol"] = str(yaml.safe_load((REPO / "otelcol" / "builder.yaml").read_text())["dist"]["version"])
    return pinned


def built_versions() -> dict[str, str]:
    out = subprocess.run([str(REPO / "scripts" / "build-tools.sh")], capture_output=True, text=True,
                         timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(line.split() for line in out.stdout.splitlines() if line.strip())


def test_tested_versions_equal_the_pinned_ones_to_the_patch(capsys):
    pinned, tested = pinned_versions(), built_versions()
    rows, gaps = [], []
    for program, want in pinned.items():
        have = tested.get(program, "missing")
        same = have != "missing" and have != "unknown" and parse(have) == parse(want)
        rows.append(f"  {program:<18} {have:<10} {want:<16} {'same' if same else 'DIFFERENT'}")
        if not same:
            gaps.append(f"{program} {have} vs pinned {want}")
    not_run = []
    for service, image in sorted(compose_images().items()):
        name = image.split(":", 1)[0]
        if name in NOT_RUN:
            not_run.append(f"  {service:<18} {image:<46} {NOT_RUN[name]}")
    with capsys.disabled():
        print("\nTested (make tools) vs pinned (docker-compose.yml; otelcol: otelcol/builder.yaml):")
        print(f"  {'program':<18} {'tested':<10} {'pinned':<16} result")
        print("\n".join(rows))
        print("Not run here:")
        print("\n".join(not_run))
    assert not gaps, "tests run another release than the one users get: " + "; ".join(gaps)


def test_every_image_is_tested_or_names_why_not():
    tested_services = set(TESTED_AS)
    unaccounted = [f"{service} ({image})" for service, image in compose_images().items()
                   if service not in tested_services and image.split(":", 1)[0] not in NOT_RUN
                   and not image.startswith(COLLECTOR_IMAGES)]
    assert not unaccounted, f"add these images to TESTED_AS or NOT_RUN with the reason: {unaccounted}"


def test_a_collector_image_in_compose_ships_the_manifests_release():
    """Once a Compose service runs the collector image, its tag must be the release the manifest builds."""
    manifest = yaml.safe_load((REPO / "otelcol" / "builder.yaml").read_text())
    release = parse(str(manifest["dist"]["version"]))
    for service, image in compose_images().items():
        if image.startswith(COLLECTOR_IMAGES):
            assert parse(image.rsplit(":", 1)[1]) == release, f"{service}: {image} vs the manifest's {release}"
    bases = re.findall(r"^FROM\s+(\S+)", (REPO / "otelcol" / "Dockerfile").read_text(), re.M)
    [base] = [b for b in bases if b.startswith(COLLECTOR_IMAGES)]
    assert parse(base.rsplit(":", 1)[1]) == release, f"otelcol/Dockerfile: {base} vs the manifest's {release}"
    # Every collector module of the manifest at one release (core 0.X.0 with contrib 0.X.y).
    minors = {parse(line.split()[-1])[:2] for kind in ("receivers", "processors", "exporters", "extensions")
              for line in (c["gomod"] for c in manifest.get(kind, []))}
    assert minors == {release[:2]}, f"collector modules at several releases: {sorted(minors)}"
