"""Shared counters and cache: Redis when a URL is set, process memory otherwise.

Two stores, so cache pressure can never evict security state: REDIS_URL holds blocks, rate
counters and injected faults (run that Redis with `noeviction`: its keys all expire on their own);
the LLM response cache lives in CACHE_REDIS_URL, or in a bounded in-process LRU when unset.
The in-memory store keeps the backend runnable with nothing installed.

Redis calls never wait long: short socket timeouts, no retries, and after a failure the store
answers StoreUnavailable at once for ``cooldown`` seconds (the API then answers 503 with Retry-After).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

log = logging.getLogger("store")


class StoreUnavailable(Exception):
    """Redis did not answer in time (or is known to be down for a few more seconds)."""

    retry_after = 5


class MemoryStore:
    def __init__(self, max_keys: int = 10_000):
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[float, object]] = OrderedDict()  # key -> (expires, value)
        self._max = max_keys

    def _live(self, key: str, now: float):
        item = self._data.get(key)
        if item is None or item[0] <= now:
            self._data.pop(key, None)
            return None
        return item

    def _put(self, key: str, value, ttl: float, now: float) -> None:
        self._data[key] = (now + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def incr(self, key: str, ttl: int) -> int:
        """Increment a counter that expires ``ttl`` seconds after its first increment."""
        now = time.monotonic()
        with self._lock:
            item = self._live(key, now)
            if item is None:
                self._put(key, 1, ttl, now)
                return 1
            self._data[key] = (item[0], item[1] + 1)
            return item[1] + 1

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._live(key, time.monotonic())
            return None if item is None else item[1]

    def set(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            self._put(key, value, ttl, time.monotonic())

    def ttl(self, key: str) -> int:
        """Seconds left before ``key`` expires; 0 when absent."""
        now = time.monotonic()
        with self._lock:
            item = self._live(key, now)
            return 0 if item is None else max(1, int(item[0] - now + 0.999))

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    """Redis with a bound on every call: worst case ``timeout`` seconds, then ``cooldown`` seconds of fast failures."""

    remote = True  # callers on the event loop run its calls in a thread

    def __init__(self, url: str, timeout: float = 0.5, cooldown: float = 2.0):
        import redis  # only needed when a Redis URL is set
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._errors = (redis.RedisError, OSError)
        # redis-py 6+ retries 3 times with backoff by default: one frozen Redis then costs seconds per call.
        self._r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                       retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._cooldown = cooldown
        self._down_until = 0.0

    def _call(self, fn, *args, **kwargs):
        if self._down_until and time.monotonic() < self._down_until:
            raise StoreUnavailable()
        try:
            result = fn(*args, **kwargs)
        except self._errors as exc:
            if not self._down_until:  # one line per outage, not one traceback per request
                log.error("redis unavailable", extra={"error": type(exc).__name__})
            self._down_until = time.monotonic() + self._cooldown
            raise StoreUnavailable() from exc
        if self._down_until:
            self._down_until = 0.0
            log.warning("redis available again")
        return result

    def incr(self, key: str, ttl: int) -> int:
        def run():
            pipe = self._r.pipeline()
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)  # the window starts at the first increment
            return int(pipe.execute()[0])
        return self._call(run)

    def get(self, key: str) -> str | None:
        return self._call(self._r.get, key)

    def set(self, key: str, value: str, ttl: int) -> None:
        self._call(self._r.set, key, value, ex=ttl)

    def ttl(self, key: str) -> int:
        return max(self._call(self._r.ttl, key), 0)

    def delete(self, key: str) -> None:
        self._call(self._r.delete, key)

    def ping(self) -> None:
        self._call(self._r.ping)


def make_store(redis_url: str | None, max_keys: int = 10_000):
    return RedisStore(redis_url) if redis_url else MemoryStore(max_keys)
