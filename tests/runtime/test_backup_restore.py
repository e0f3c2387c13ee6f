"""`make backup`, the volumes wiped, `make restore`: the same rows and the same series come back.

Real programs: GNU make running scripts/backup.sh and scripts/restore.sh with `docker compose` (Compose v2 as the
CLI plugin) and `docker run` of the busybox stand-in, on the private engine; pg_dump/pg_restore in the postgres
container; Prometheus reading its restored TSDB.
"""
from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import quote

from harness import REPO, http_get

def table_rows(stack) -> dict[str, set[str]]:
    """table -> md5 of each row's text, for every table of the app database."""
    db = stack.env["APP_DB_NAME"]
    tables = stack.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", db).stdout.split()
    return {t: set(stack.sql(f'SELECT md5(t::text) FROM "{t}" t', db).stdout.split()) for t in tables}


def series_at(stack, ts: float) -> dict[str, str]:
    """A few whole-TSDB figures at a past instant: identical only if the same samples came back."""
    out = {}
    for q in ["count({__name__=~\".+\"})", "sum(up)", "sum(http_server_request_duration_seconds_count)",
              "sum(process_cpu_seconds_total)"]:
        code, body = http_get(stack.host_url("PROMETHEUS_PORT", f"/api/v1/query?query={quote(q)}&time={ts}"))
        assert code == 200, body
        result = json.loads(body)["data"]["result"]
        out[q] = result[0]["value"][1] if result else None
    return out


def make(stack, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run(["make", "--no-print-directory", *args, f"COMPOSE={stack.compose_cmd}"], cwd=REPO,
                         env=stack.engine.env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"make {' '.join(args)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def test_backup_wipe_restore_gives_back_the_same_rows_and_series(dev_stack):
    # Quiesce the writers so the rows compared are the rows backed up.
    dev_stack.compose("stop", "loadgen", "backend")
    rows = table_rows(dev_stack)
    assert sum(map(len, rows.values())) > 0 and rows["workflows"], "the demo load wrote no rows"
    instant = time.time() - 20  # a past instant with samples in Prometheus' head and WAL
    series = series_at(dev_stack, instant)
    assert all(v not in (None, "0") for v in series.values()), series

    out = make(dev_stack, "backup").stdout
    archive = REPO / out.strip().splitlines()[-1].split()[-1]
    try:
        assert archive.is_file() and archive.name.startswith("vigil-"), out
        dev_stack.compose("down", "-v")
        assert not dev_stack.engine.docker("volume", "ls", "-q").stdout.split(), "volumes left after down -v"
        make(dev_stack, "restore", f"f={archive.relative_to(REPO)}")
    finally:
        archive.unlink(missing_ok=True)
        if not any(archive.parent.iterdir()):
            archive.parent.rmdir()
    # restore.sh ends with `up --wait` of everything: the backend may add rows; none of the old ones changed.
    dev_stack.compose("stop", "loadgen")
    restored = table_rows(dev_stack)
    for table, hashes in rows.items():
        missing = hashes - restored.get(table, set())
        assert not missing, f"{table}: {len(missing)} of {len(hashes)} rows not restored as they were"
    assert series_at(dev_stack, instant) == series

