"""Fault injection for demos and tests (PUT /api/admin/faults).

Per provider: a failure rate that overrides LLM_FAILURE_RATE and extra latency.
For the API: a ratio of requests answered 503, to make an error burst on demand.
Faults expire on their own. With REDIS_URL set they live in Redis, so every worker (and
every replica) applies them; each process re-reads them at most once a second. Without
Redis they live in this process only (one worker: `make run`, the tests).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass

from ..store import StoreUnavailable

KEY = "faults"
REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class ProviderFault:
    failure_rate: float | None = None
    extra_latency_ms: float = 0.0


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._providers: dict[str, ProviderFault] = {}
        self.http_error_rate = 0.0
        self.expires_at = 0.0
        self._store = None  # a shared store (Redis), or None: this process only
        self._read_at = float("-inf")

    def share(self, store) -> None:
        """Keep the faults in ``store`` (a RedisStore) from now on."""
        self._store = store if getattr(store, "remote", False) else None

    def set(self, providers: dict[str, ProviderFault], http_error_rate: float, duration_s: float) -> None:
        if self._store is not None:
            if duration_s > 0:
                self._store.set(KEY, json.dumps({"providers": {p: asdict(f) for p, f in providers.items()},
                                                 "http_error_rate": http_error_rate}), max(1, round(duration_s)))
            else:
                self._store.delete(KEY)
        self._apply(providers, http_error_rate, duration_s)

    def _apply(self, providers, http_error_rate: float, duration_s: float) -> None:
        with self._lock:
            self._providers = dict(providers)
            self.http_error_rate = http_error_rate
            self.expires_at = time.monotonic() + duration_s
            self._read_at = time.monotonic()

    def _refresh(self) -> None:
        """Re-read the shared faults, at most once per REFRESH_SECONDS."""
        if self._store is None or time.monotonic() - self._read_at < REFRESH_SECONDS:
            return
        self._read_at = time.monotonic()
        try:
            raw, left = self._store.get(KEY), self._store.ttl(KEY)
        except StoreUnavailable:
            return  # keep what we had; the security guard answers 503 meanwhile
        if raw is None:
            self._apply({}, 0.0, 0)
            return
        data = json.loads(raw)
        self._apply({p: ProviderFault(**f) for p, f in data["providers"].items()}, data["http_error_rate"], left)

    def clear(self) -> None:
        self.set({}, 0.0, 0)

    def _expired(self) -> bool:
        self._refresh()
        return time.monotonic() >= self.expires_at

    def for_provider(self, provider: str) -> ProviderFault:
        if self._expired():
            return ProviderFault()
        return self._providers.get(provider, ProviderFault())

    def http_error(self) -> float:
        return 0.0 if self._expired() else self.http_error_rate

    def describe(self) -> dict:
        live = not self._expired()
        return {
            "active": live and bool(self._providers or self.http_error_rate),
            "expires_in_seconds": round(max(0.0, self.expires_at - time.monotonic()), 1) if live else 0,
            "http_error_rate": self.http_error_rate if live else 0.0,
            "providers": {p: vars(f) for p, f in self._providers.items()} if live else {},
        }


FAULTS = Faults()
