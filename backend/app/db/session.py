"""Engine and sessions. The schema is created at start (create_all is idempotent, and serialised between
workers on PostgreSQL).

Every database wait is bounded by ``timeout`` seconds (DB_TIMEOUT_SECONDS), so a database that is down
or frozen gives 503 in a few seconds instead of a hung request: connect, pool checkout, and each
statement (the server's statement_timeout, and a client-side bound that also holds when the server
process is frozen and the kernel still acknowledges our packets).
"""
from __future__ import annotations

import select
import time

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .models import Base


def bounded_wait(timeout: float):
    """A psycopg2 wait callback that gives up after ``timeout`` seconds.

    psycopg2 then closes the connection (SQLAlchemy sees it closed and discards it from the pool).
    """
    import psycopg2
    from psycopg2 import extensions

    def wait(conn):
        deadline = time.monotonic() + timeout
        while True:
            state = conn.poll()
            if state == extensions.POLL_OK:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise psycopg2.OperationalError(f"database did not answer within {timeout} s")
            fd = conn.fileno()
            select.select([fd] if state == extensions.POLL_READ else [],
                          [fd] if state == extensions.POLL_WRITE else [], [], left)
    return wait


def make_engine(url: str, timeout: float = 3.0, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    if url.startswith("sqlite"):
        # One file shared by the request threads and the workflow runner threads.
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
    if "psycopg2" in url or url.startswith("postgresql://"):
        from psycopg2 import extensions

        # Process-wide: every psycopg2 connection of this process waits through it.
        extensions.set_wait_callback(bounded_wait(timeout + 0.5))
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=timeout,
                         connect_args={"connect_timeout": max(2, round(timeout)),
                                       "options": f"-c statement_timeout={int(timeout * 1000)}"})


SCHEMA_LOCK = 0x76696769  # any fixed number: the advisory lock that serialises schema creation


def init_schema(engine: Engine, wait_seconds: float = 30.0) -> None:
    """Create the missing tables and columns.

    On PostgreSQL, one worker at a time: workers starting together on an empty database would race on
    CREATE TABLE (UniqueViolation on the table's type). The lock is polled (pg_try_advisory_xact_lock),
    since every statement here is bounded by the short DB timeout.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            deadline = time.monotonic() + wait_seconds
            while not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK}).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError("another process held the schema lock too long")
                time.sleep(0.1)
        Base.metadata.create_all(conn)
        if "owner" not in {c["name"] for c in inspect(conn).get_columns("workflows")}:
            # A database created before workflows had an owner (create_all adds tables, never columns).
            conn.execute(text("ALTER TABLE workflows ADD COLUMN owner VARCHAR(32)"))
            conn.execute(text("CREATE INDEX ix_workflows_owner ON workflows (owner)"))


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
