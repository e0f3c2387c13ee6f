"""Database pool gauges for a SQLAlchemy engine (optional: needs SQLAlchemy)."""
from __future__ import annotations

from sqlalchemy import event

from . import metrics


def instrument_engine(engine) -> None:
    """Track checked-out connections and pool capacity of ``engine``."""
    pool = engine.pool
    size = getattr(pool, "size", lambda: 0)()
    overflow = getattr(pool, "_max_overflow", 0)
    metrics.DB_POOL_MAX.set(max(size + max(overflow, 0), 1))

    @event.listens_for(engine, "checkout")
    def _checkout(*_):
        metrics.DB_POOL_IN_USE.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_):
        metrics.DB_POOL_IN_USE.dec()
