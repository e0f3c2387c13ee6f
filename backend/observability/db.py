"""Database pool gauges for a SQLAlchemy engine (needs SQLAlchemy, which the engine brings).

The ``db_pool_*`` series exist only once an engine is instrumented: an app without a
database exposes none (rather than zeros that look like an outage).
"""
from __future__ import annotations

from . import metrics


def instrument_engine(engine) -> None:
    """Track checked-out connections and pool capacity of ``engine``."""
    from sqlalchemy import event

    in_use, capacity = metrics.db_pool_gauges()
    pool = engine.pool
    size = getattr(pool, "size", lambda: 0)()
    overflow = getattr(pool, "_max_overflow", 0)
    capacity.set(max(size + max(overflow, 0), 1))

    @event.listens_for(engine, "checkout")
    def _checkout(*_):
        in_use.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_):
        in_use.dec()
