"""Engine and sessions. The schema is created at start (create_all is idempotent).

Every database wait is bounded by ``timeout`` seconds (DB_TIMEOUT_SECONDS), so a database that is down
or frozen gives 503 in a few seconds instead of a hung request: connect, pool checkout, and each
statement (the server's statement_timeout, and a client-side bound that also holds when the server
process is frozen and the kernel still acknowledges our packets).
"""
from __future__ import annotations

import select
import time

from sqlalchemy import create_engine, text
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


def make_engine(url: str, timeout: float = 3.0) -> Engine:
    if url.startswith("sqlite"):
        # One file shared by the request threads and the workflow runner threads.
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
    if "psycopg2" in url or url.startswith("postgresql://"):
        from psycopg2 import extensions

        # Process-wide: every psycopg2 connection of this process waits through it.
        extensions.set_wait_callback(bounded_wait(timeout + 0.5))
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=timeout,
                         connect_args={"connect_timeout": max(2, round(timeout)),
                                       "options": f"-c statement_timeout={int(timeout * 1000)}"})


def init_schema(engine: Engine) -> None:
    Base.metadata.create_all(engine)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
