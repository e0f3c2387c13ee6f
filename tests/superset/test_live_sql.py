"""Every chart's SQL (superset/dashboards.py, as written into the bundle) on the real Vigil database.

Real programs: PostgreSQL 15 prepared by postgres/init/10-roles.sh, the backend writing rows while
the load generator runs (conftest.py); each query runs as the read-only role the bundle connects with.
"""
from __future__ import annotations

from pathlib import Path

import psycopg2
import yaml

from harness import REPO, wait_until

from .conftest import CHARTS

BUNDLE = REPO / "superset" / "bundle"


def bundle_datasets() -> dict[str, dict]:
    return {d["table_name"]: d for d in (yaml.safe_load(p.read_text()) for p in (BUNDLE / "datasets").rglob("*.yaml"))}


def test_every_dataset_returns_rows_with_its_declared_columns_as_the_read_only_role(vigil_db):
    datasets = bundle_datasets()
    assert len(datasets) == len(CHARTS) >= 24
    conn = vigil_db.reader()
    conn.autocommit = True
    results: dict[str, tuple] = {}

    def all_have_rows() -> bool:
        with conn.cursor() as cur:
            for name, ds in datasets.items():
                cur.execute(ds["sql"])
                results[name] = ([c.name for c in cur.description], cur.fetchall())
        return all(rows for _, rows in results.values())

    try:
        wait_until(all_have_rows, timeout=120, interval=2,
                   message="every dataset to return rows (empty: "
                           f"{[n for n, (_, r) in results.items() if not r]})")
        for name, ds in datasets.items():
            columns, rows = results[name]
            assert columns == [c["column_name"] for c in ds["columns"]], name
            assert rows, name
        # The read-only role really is read-only: the bundle's connection cannot change anything.
        with conn.cursor() as cur:
            try:
                cur.execute("DELETE FROM workflows")
                raise AssertionError("the read-only role deleted rows")
            except psycopg2.errors.ReadOnlySqlTransaction:
                pass
    finally:
        conn.close()
