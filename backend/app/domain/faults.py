"""Fault injection for demos and tests (POST /api/admin/faults).

Per provider: a failure rate that overrides LLM_FAILURE_RATE and extra latency.
For the API: a ratio of requests answered 503, to make an error burst on demand.
Faults live in this process and expire on their own.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass


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

    def set(self, providers: dict[str, ProviderFault], http_error_rate: float, duration_s: float) -> None:
        with self._lock:
            self._providers = dict(providers)
            self.http_error_rate = http_error_rate
            self.expires_at = time.monotonic() + duration_s

    def clear(self) -> None:
        self.set({}, 0.0, 0)

    def _expired(self) -> bool:
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
