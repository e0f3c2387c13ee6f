"""The Prometheus family the tests run against the images docker-compose.yml pins.

Real programs: scripts/prometheus-family.sh, which runs each fetched binary's --version (Prometheus,
promtool, Alertmanager, amtool and the node, postgres and redis exporters from Debian testing).
Pinned = the image tags in docker-compose.yml, the one place they are written. A test proves nothing
about a different major version (for 0.x releases, a different minor: 0.33 -> 0.34 may break), so
such a gap fails here; the minor gaps that remain are listed in docs/testing.md.
"""
from __future__ import annotations

import re
import subprocess

import yaml

from harness import REPO

# Compose service -> the fetched programs that stand for its image in the tests.
TESTED_AS = {
    "prometheus": ["prometheus", "promtool"],
    "alertmanager": ["prometheus-alertmanager", "amtool"],
    "node-exporter": ["prometheus-node-exporter"],
    "postgres-exporter": ["prometheus-postgres-exporter"],
    "redis-exporter": ["prometheus-redis-exporter"],
}


def parse(version: str) -> tuple[int, int, int]:
    """"v1.88.0-alpine" or "3.5.3" -> (1, 88, 0)."""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version)
    assert m, f"not a version: {version!r}"
    return tuple(int(x) for x in m.groups())


def compatible_line(version: tuple[int, int, int]) -> tuple[int, ...]:
    """What must match: the major version; for 0.x releases, major and minor (semver)."""
    return version[:2] if version[0] == 0 else version[:1]


def pinned_versions() -> dict[str, str]:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return {name: services[name]["image"].rsplit(":", 1)[1] for name in TESTED_AS}


def fetched_versions() -> dict[str, str]:
    out = subprocess.run([str(REPO / "scripts" / "prometheus-family.sh")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return dict(line.split() for line in out.stdout.splitlines() if line.strip())


def test_tested_versions_match_the_pinned_images_major(capsys):
    pinned, tested = pinned_versions(), fetched_versions()
    rows, gaps = [], []
    for service, programs in TESTED_AS.items():
        for program in programs:
            have, want = parse(tested[program]), parse(pinned[service])
            same = compatible_line(have) == compatible_line(want)
            rows.append(f"  {program:<30} {tested[program]:<10} {service:<18} {pinned[service]:<16} "
                        f"{'same' if have[:2] == want[:2] else 'minor gap' if same else 'DIFFERENT'}")
            if not same:
                gaps.append(f"{program} {tested[program]} vs image {service}:{pinned[service]}")
    with capsys.disabled():
        print("\nTested (make tools) vs pinned (docker-compose.yml):")
        print(f"  {'program':<30} {'tested':<10} {'service':<18} {'pinned':<16} gap")
        print("\n".join(rows))
    assert not gaps, "tests run a different major (0.x: minor) than the image users get: " + "; ".join(gaps)


def test_the_comparison_rule():
    assert compatible_line(parse("3.5.3")) == compatible_line(parse("v3.13.2"))
    assert compatible_line(parse("2.42.0")) != compatible_line(parse("v3.13.2"))
    assert compatible_line(parse("0.33.1")) == compatible_line(parse("v0.33.0"))
    assert compatible_line(parse("0.33.1")) != compatible_line(parse("v0.34.0"))
    assert parse("v1.88.0-alpine") == (1, 88, 0)
