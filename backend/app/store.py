"""Shared counters and cache: Redis when REDIS_URL is set, process memory otherwise.

Redis makes rate limits, blocks and the response cache hold across workers and
restarts; the in-memory store keeps the backend runnable with nothing installed.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict


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
    def __init__(self, url: str):
        import redis  # only needed when REDIS_URL is set

        self._r = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1,
                                       decode_responses=True)

    def incr(self, key: str, ttl: int) -> int:
        pipe = self._r.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)  # the window starts at the first increment
        return int(pipe.execute()[0])

    def get(self, key: str) -> str | None:
        return self._r.get(key)

    def set(self, key: str, value: str, ttl: int) -> None:
        self._r.set(key, value, ex=ttl)

    def ttl(self, key: str) -> int:
        left = self._r.ttl(key)
        return max(left, 0)

    def delete(self, key: str) -> None:
        self._r.delete(key)

    def ping(self) -> None:
        self._r.ping()


def make_store(redis_url: str | None):
    return RedisStore(redis_url) if redis_url else MemoryStore()
