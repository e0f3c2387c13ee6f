#!/usr/bin/env python3
"""Import superset/bundle/ into Superset, then check that every dashboard and chart is there.

Runs with Superset's Python (the image's, or .superset-venv in the tests), after `superset db
upgrade` and `superset init`:

    python superset/import_bundle.py              zip the bundle, import it, verify
    python superset/import_bundle.py --zip FILE   only write the zip (for Dashboards > Import in the UI,
                                                  which then asks for the database password)

The bundle is zipped exactly like a Superset export and read back with Superset's own reader, then
imported with the assets importer, which overwrites the database, datasets, charts and dashboards
of the same UUIDs: re-running it applies edits and a changed password. The database URI comes from
the environment (nothing secret is in the repository):
  VIGIL_DB_URI                      e.g. postgresql+psycopg2://grafana_reader@postgres:5432/vigil
  VIGIL_DB_PASSWORD(_FILE)          the read-only role's password
  SUPERSET_ADMIN_USER (admin)       owner of the imported objects
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

import yaml

BUNDLE = Path(__file__).resolve().parent / "bundle"
ROOT = "vigil_bundle"  # exports carry one top folder; Superset's reader strips it


def secret(name: str) -> str:
    value, path = os.environ.get(name), os.environ.get(name + "_FILE")
    if value and path:
        sys.exit(f"import_bundle: set {name} or {name}_FILE, not both")
    if path:
        return Path(path).read_text().rstrip("\n")
    if not value:
        sys.exit(f"import_bundle: {name} (or {name}_FILE) is not set")
    return value


def database_uri() -> str:
    uri = os.environ.get("VIGIL_DB_URI") or sys.exit("import_bundle: VIGIL_DB_URI is not set")
    scheme, _, rest = uri.partition("://")
    user, at, host = rest.partition("@")
    if not at or ":" in user:
        sys.exit("import_bundle: VIGIL_DB_URI must be driver://user@host:port/db (password from VIGIL_DB_PASSWORD)")
    return f"{scheme}://{user}:{quote(secret('VIGIL_DB_PASSWORD'), safe='')}@{host}"


def bundle_zip(uri: str | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(BUNDLE.rglob("*.yaml")):
            rel = path.relative_to(BUNDLE).as_posix()
            text = path.read_text()
            if uri and rel.startswith("databases/"):
                doc = yaml.safe_load(text)
                doc["sqlalchemy_uri"] = uri
                text = yaml.safe_dump(doc, sort_keys=True)
            z.writestr(f"{ROOT}/{rel}", text)
    return buf.getvalue()


def expected() -> tuple[set[str], set[str]]:
    """UUIDs of the bundle's dashboards and charts."""
    def uuids(folder):
        return {yaml.safe_load(p.read_text())["uuid"] for p in (BUNDLE / folder).glob("*.yaml")}
    return uuids("dashboards"), uuids("charts")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zip", metavar="FILE", help="write the bundle as a zip (password left out) and stop")
    args = p.parse_args(argv)
    if args.zip:
        Path(args.zip).write_bytes(bundle_zip(None))
        print(f"import_bundle: wrote {args.zip}")
        return 0
    data = bundle_zip(database_uri())

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.models.dashboard import Dashboard
        from superset.models.slice import Slice
        from superset.utils.core import override_user

        admin_name = os.environ.get("SUPERSET_ADMIN_USER", "admin")
        admin = security_manager.find_user(username=admin_name)
        if admin is None:
            sys.exit(f"import_bundle: no Superset user {admin_name!r} (create the admin first)")
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            contents = get_contents_from_bundle(z)
        with override_user(admin):
            ImportAssetsCommand(contents).run()

        # The importer skips silently what it cannot link: check that everything arrived.
        want_dashboards, want_charts = expected()
        dashboards = {str(d.uuid): d for d in db.session.query(Dashboard).all()}
        charts = {str(c.uuid) for c in db.session.query(Slice).all()}
        missing = sorted((want_dashboards - dashboards.keys()) | (want_charts - charts))
        if missing:
            sys.exit(f"import_bundle: not imported: {missing}")
        for u in want_dashboards:
            dashboards[u].owners = sorted(set(dashboards[u].owners) | {admin}, key=lambda o: o.id)
        db.session.commit()
    print(f"import_bundle: {len(want_dashboards)} dashboards and {len(want_charts)} charts imported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
