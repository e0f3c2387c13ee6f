"""The dashboard images in docs/images/ (scripts/previews.py, `make previews`): one per dashboard, drawn from
the dashboard JSON as it is now, labelled a preview, small, and shown in the docs.

Real programs: none; the PNG files are read chunk by chunk (the format's own layout, no image library).
A failure here means: run `make previews` (about 4 minutes) and commit docs/images/.
"""
from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

from harness import REPO

from .panels import dashboards

IMAGES = REPO / "docs" / "images"
LABEL = "Preview drawn by Vigil from the dashboard JSON, not a Grafana screenshot"


def text_chunks(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file, after checking its signature and every chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    out, pos = {}, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


def test_each_dashboard_has_a_fresh_labelled_preview():
    stale = []
    for path, dash in dashboards().items():
        image = IMAGES / f"{dash['uid']}.png"
        assert image.is_file(), f"{dash['uid']} has no preview: run `make previews`"
        chunks = text_chunks(image)
        assert chunks.get("Description") == LABEL, image.name
        assert chunks.get("vigil-dashboard") == str(path.relative_to(REPO)), image.name
        if chunks.get("vigil-dashboard-sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
            stale.append(image.name)
    assert not stale, f"drawn from an older dashboard JSON: {stale}; run `make previews` and commit docs/images/"


def test_no_orphan_images_and_the_docs_show_them():
    uids = {dash["uid"] for dash in dashboards().values()}
    images = {p.stem for p in IMAGES.glob("*.png")}
    assert images == uids, f"images without a dashboard: {images - uids}"
    assert sum(p.stat().st_size for p in IMAGES.glob("*.png")) < 2_000_000
    shown = set(re.findall(r"\]\(images/([\w-]+)\.png\)", (REPO / "docs" / "dashboards.md").read_text()))
    assert shown == uids, f"docs/dashboards.md misses {uids - shown}"
    readme_head = (REPO / "README.md").read_text().split("\n## ", 1)[0]
    assert "](docs/images/vigil-overview.png)" in readme_head, "the README opens with the overview picture"
