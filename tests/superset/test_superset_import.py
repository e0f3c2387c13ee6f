"""The bundle in a real Superset: superset/init.sh, then every chart's query through Superset.

Real programs: Apache Superset 6.1 from .superset-venv (`make superset-venv`): its CLI (`db upgrade`,
`fab create-admin`, `init`) and superset/import_bundle.py, run by superset/init.sh against a
throwaway SQLite metadata database; the Vigil database of conftest.py (PostgreSQL, rows from the
backend and the load generator), which Superset queries through the read-only role.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import yaml

from harness import REPO

from .conftest import APP

VENV = REPO / ".superset-venv"
BUNDLE = REPO / "superset" / "bundle"

# Run inside Superset: what exists after the import, and each chart's saved query, run by Superset.
PROBE = r"""
import json
from superset.app import create_app
app = create_app()
with app.app_context(), app.test_request_context():
    from superset import db, security_manager
    from superset.charts.schemas import ChartDataQueryContextSchema
    from superset.commands.chart.data.get_data_command import ChartDataCommand
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice
    from superset.utils.core import override_user
    out = {"dashboards": {d.slug: sorted(str(s.uuid) for s in d.slices) for d in db.session.query(Dashboard)},
           "rows": {}}
    with override_user(security_manager.find_user(username="admin")):
        for chart in db.session.query(Slice):
            command = ChartDataCommand(ChartDataQueryContextSchema().load(json.loads(chart.query_context)))
            command.validate()
            result = command.run()["queries"][0]
            out["rows"][str(chart.uuid)] = result.get("error") or result["rowcount"]
print("PROBE " + json.dumps(out))
"""


def superset_env(tmp_path, reader_uri: str) -> dict:
    assert (VENV / "bin" / "superset").exists(), "no .superset-venv: run `make superset-venv`"
    return {"PATH": f"{VENV / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path),
            "SUPERSET_HOME": str(tmp_path), "SUPERSET_CONFIG_PATH": str(REPO / "superset" / "superset_config.py"),
            "SUPERSET_SECRET_KEY": "test-only-secret-key-0123456789",
            "SUPERSET_DATABASE_URI": f"sqlite:///{tmp_path / 'superset.db'}",
            "SUPERSET_ADMIN_PASSWORD": "admin-test-pw", "PYTHON": str(VENV / "bin" / "python"),
            "VIGIL_DB_URI": reader_uri, "VIGIL_DB_PASSWORD": APP["GRAFANA_DB_PASSWORD"]}


def run(argv, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def bundle_uuids(folder: str) -> dict[str, dict]:
    return {doc["uuid"]: doc for doc in (yaml.safe_load(p.read_text()) for p in (BUNDLE / folder).glob("*.yaml"))}


def test_init_job_imports_the_eight_dashboards_and_superset_runs_every_chart(tmp_path, vigil_db, capsys):
    env = superset_env(tmp_path, vigil_db.reader_uri)
    started = time.monotonic()
    init = run(["bash", str(REPO / "superset" / "init.sh")], env)
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-6000:]
    assert "8 dashboards and 30 charts imported" in init.stdout
    init_seconds = time.monotonic() - started
    # Again, as on every `up`: idempotent, nothing duplicated.
    again = run([env["PYTHON"], str(REPO / "superset" / "import_bundle.py")], env)
    assert again.returncode == 0, again.stderr[-6000:]

    probe = run([env["PYTHON"], "-c", PROBE], env)
    assert probe.returncode == 0, probe.stderr[-6000:]
    found = json.loads(probe.stdout.split("PROBE ", 1)[1])

    dashboards, charts = bundle_uuids("dashboards"), bundle_uuids("charts")
    assert len(dashboards) == 8
    want = {d["slug"]: sorted(p["meta"]["uuid"] for p in d["position"].values()
                              if isinstance(p, dict) and p.get("type") == "CHART") for d in dashboards.values()}
    assert found["dashboards"] == want, "dashboards or their charts differ from the bundle"
    assert set(found["rows"]) == set(charts)
    empty = {charts[u]["slice_name"]: r for u, r in found["rows"].items() if not isinstance(r, int) or r < 1}
    assert not empty, f"charts without rows (or with errors) when Superset runs them: {empty}"
    with capsys.disabled():
        print(f"\n[superset] init.sh (db upgrade, admin, init, import) took {init_seconds:.0f} s; "
              f"{len(charts)} charts returned rows through Superset")


def test_init_refuses_to_run_without_secret_key_or_admin_password(tmp_path):
    env = superset_env(tmp_path, "postgresql+psycopg2://reader@127.0.0.1:1/vigil")
    no_password = run(["bash", str(REPO / "superset" / "init.sh")], {**env, "SUPERSET_ADMIN_PASSWORD": ""})
    assert no_password.returncode != 0 and "SUPERSET_ADMIN_PASSWORD" in no_password.stderr
    no_key = run([env["PYTHON"], "-c", "from superset.app import create_app; create_app()"],
                 {**env, "SUPERSET_SECRET_KEY": ""}, timeout=120)
    assert no_key.returncode != 0 and "SUPERSET_SECRET_KEY" in no_key.stderr
