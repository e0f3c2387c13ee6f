"""A per-provider circuit breaker: closed -> open -> half-open -> closed.

Closed: calls pass; ``failure_threshold`` consecutive failures open it.
Open: calls fail fast until ``reset_seconds`` have passed, then one trial call
is let through (half-open). The trial's success closes it; its failure opens it again.
"""
from __future__ import annotations

import logging
import threading
import time

from .. import metrics


log = logging.getLogger("breaker")


class CircuitOpen(Exception):
    pass


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 5, reset_seconds: float = 30.0,
                 clock=time.monotonic):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        metrics.BREAKER_STATE.labels(provider=name).set(metrics.BREAKER_STATES["closed"])

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def _move(self, new: str) -> None:
        old, self._state = self._state, new
        if old != new:
            metrics.set_breaker_state(self.name, old, new)
            # Opening is the failure users see (calls fail fast); the rest is recovery.
            log.log(logging.ERROR if new == "open" else logging.INFO, "circuit breaker %s", new,
                    extra={"provider": self.name, "from_state": old, "to_state": new,
                           "error_type": "circuit_open" if new == "open" else None})

    def before_call(self) -> None:
        """Raise CircuitOpen if the call must not go to the provider."""
        with self._lock:
            if self._state == "open":
                if self._clock() - self._opened_at < self.reset_seconds:
                    raise CircuitOpen(self.name)
                self._move("half_open")
                self._trial_running = False
            if self._state == "half_open":
                if self._trial_running:
                    raise CircuitOpen(self.name)
                self._trial_running = True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_running = False
            self._move("closed")

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._move("open")

    def reset(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_running = False
            self._move("closed")
