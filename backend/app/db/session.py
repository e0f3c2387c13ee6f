"""Engine and sessions. The schema is created at start (create_all is idempotent)."""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .models import Base


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # One file shared by the request threads and the workflow runner threads.
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
    # connect_timeout keeps /ready quick when the database is down.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         connect_args={"connect_timeout": 3})


def init_schema(engine: Engine) -> None:
    Base.metadata.create_all(engine)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
