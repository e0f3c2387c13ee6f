"""The PostgreSQL side of Grafana: postgres/init/10-roles.sh and every SQL panel.

Real programs: a PostgreSQL 15 cluster (pg_stat_statements preloaded) prepared by the roles
script exactly as the official image runs it (POSTGRES_USER/POSTGRES_DB, psql, *_FILE
secrets), with password authentication for every role but the superuser; the backend
writing rows as the app role while the load generator runs (conftest.py). Every SQL query
of the dashboards then runs as Grafana's read-only role, macros expanded as Grafana would.
"""
from __future__ import annotations

import psycopg2
import pytest

from harness import wait_until

from .conftest import APP, SUMMARY, run_roles_script
from .panels import dashboards, datasources, expand, queries, sql_macros, variables


def reader_connection(db):
    return psycopg2.connect(host=db.pg.host, port=db.pg.port, dbname=APP["APP_DB_NAME"],
                            user=APP["GRAFANA_DB_USER"], password=db.reader_password)


def test_roles_script_is_idempotent_and_reads_secret_files(vigil_db):
    again = run_roles_script(vigil_db.pg, vigil_db.env)
    assert again.returncode == 0, again.stderr
    # The password came from GRAFANA_DB_PASSWORD_FILE, trailing newline stripped (SCRAM login).
    reader_connection(vigil_db).close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=vigil_db.pg.host, port=vigil_db.pg.port, dbname="vigil",
                         user=APP["GRAFANA_DB_USER"], password="reader-pw\n").close()
    both = run_roles_script(vigil_db.pg, {**vigil_db.env, "GRAFANA_DB_PASSWORD": "x"})
    assert both.returncode != 0 and "not both" in both.stderr
    ext = vigil_db.pg.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'",
                              db="vigil", fetch=True)
    assert ext == [("pg_stat_statements",)]


def test_every_sql_panel_returns_rows_as_the_read_only_role(stack):
    db = stack.db
    app = psycopg2.connect(host=db.pg.host, port=db.pg.port, dbname="vigil", user=APP["APP_DB_USER"],
                           password=APP["APP_DB_PASSWORD"])
    app.autocommit = True

    def rows_written():
        with app.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = "
                        "'failed') FROM workflows")
            done, failed = cur.fetchone()
            return done >= 20 and failed >= 2
    wait_until(rows_written, timeout=120, interval=1, message="the backend to write finished and failed workflows")
    app.close()

    sources = datasources()
    dash_by_uid = {d["uid"]: d for d in dashboards().values()}
    conn = reader_connection(db)
    conn.autocommit = True
    checked, total = 0, 0
    try:
        with conn.cursor() as cur:
            # Template variables first: their values feed the panels' IN (...) lists.
            values = {}
            for d in dash_by_uid.values():
                for name, var in variables(d).items():
                    if var["type"] == "query" and var["datasource"]["uid"] == "postgres":
                        cur.execute(var["query"])
                        values[name] = [r[0] for r in cur.fetchall()]
                        assert values[name], f"{d['uid']}: variable ${name} has no values"
            for q in queries(sources):
                if q.kind != "grafana-postgresql-datasource":
                    continue
                total += 1
                dash = dash_by_uid[q.dashboard]
                text = sql_macros(expand(q.text, dash, sources, values=values, kind=q.kind), dash)
                cur.execute(text)
                assert cur.fetchall(), f"{q.dashboard} / {q.panel} returned no rows:\n{text}"
                checked += 1
    finally:
        conn.close()
    SUMMARY.append(f"{checked} of {total} SQL panel queries returned rows (as {APP['GRAFANA_DB_USER']})")
    assert checked >= 10


def test_read_only_role_cannot_write(stack):
    conn = reader_connection(stack.db)
    try:
        with conn.cursor() as cur:
            # Read-only sessions by default ...
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("INSERT INTO workflows (id, name, tenant, status) VALUES ('x', 'x', 'x', 'x')")
            conn.rollback()
            # ... and no INSERT privilege even when a session asks for a read-write transaction.
            cur.execute("SET TRANSACTION READ WRITE")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO workflows (id, name, tenant, status) VALUES ('x', 'x', 'x', 'x')")
            conn.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SET TRANSACTION READ WRITE; CREATE TABLE grafana_was_here (x int)")
            conn.rollback()
            # Statement statistics of other roles are visible (pg_read_all_stats): not "<insufficient privilege>".
            cur.execute("SELECT count(*) FROM pg_stat_statements WHERE query = '<insufficient privilege>'")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
