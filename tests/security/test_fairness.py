"""One greedy API key cannot starve another: gunicorn with 2 workers over a real PostgreSQL and redis-server
from tests/harness, the rate limit at its default, the greedy key sending from 4 loopback addresses.

Before: the greedy key filled the 200-per-worker workflow queue in 19 s; the second customer then got 503 on
21 of its 35 submissions.
"""
from __future__ import annotations

import http.client
import json
import threading
import time

from harness import wait_until

GREEDY, OTHER = "greedy-key-0123456789abcdef", "second-key-0123456789abcdef"
FLOOD_S = 15.0


def _post(port: int, key: str, source: str) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", "/api/workflows", json.dumps({"name": "fair", "input": "x" * 200}),
                     {"content-type": "application/json", "x-api-key": key})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("retry-after")
    except OSError:
        return 0, None
    finally:
        conn.close()


def test_a_greedy_key_gets_429_and_another_customer_still_gets_in(backend_factory, pg_database, redis_url):
    be = backend_factory(server="gunicorn", workers=2, env={
        "DATABASE_URL": pg_database, "REDIS_URL": redis_url, "API_KEYS": f"{GREEDY},{OTHER}",
        "RATE_LIMIT_PER_MINUTE": "600", "LLM_LATENCY_SCALE": "1"})
    greedy: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def flood(source: str) -> None:
        while not stop.is_set():
            greedy.append(_post(be.port, GREEDY, source))

    threads = [threading.Thread(target=flood, args=(f"127.0.0.{i}",)) for i in range(1, 5)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: any(s == 429 for s, _ in greedy), FLOOD_S, message="the greedy key meeting its share")
        other = []
        end = time.monotonic() + FLOOD_S
        while time.monotonic() < end and len(other) < 35:
            other.append(_post(be.port, OTHER, "127.0.0.5")[0])
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    codes = {c: [s for s, _ in greedy].count(c) for c in sorted({s for s, _ in greedy})}
    retry_after = {r for s, r in greedy if s == 429}
    print(f"greedy key from 4 addresses: {len(greedy)} submissions, {codes} (Retry-After {sorted(retry_after)}); "
          f"second customer: {len(other)} submissions, {other.count(202)} accepted, {other.count(503)} x 503, "
          f"{other.count(429)} x 429")
    assert codes.get(429, 0) > 0 and retry_after == {"5"}
    assert len(other) == 35 and other.count(202) == 35
