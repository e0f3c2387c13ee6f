"""Faults under the real backend (uvicorn): a real redis-server and a real PostgreSQL cluster from
tests/harness, frozen with SIGSTOP or stopped. Bounds: 503 + Retry-After within 3 s (Redis) and
10 s (database), /health unaffected, never 500, no traceback in the log.
"""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from backend.helpers import request
from harness import Proc, start_postgres, start_redis, wait_until

REDIS_BOUND_S = 3.0
DB_BOUND_S = 10.0


def _timed(method: str, url: str, body=None):
    t0 = time.monotonic()
    try:
        status, headers, _ = request(method, url, body)
    except Exception as exc:  # a client timeout: the request hung
        return "hung:" + type(exc).__name__, {}, time.monotonic() - t0
    return status, headers, time.monotonic() - t0


def _burst(base: str, n: int = 40):
    """n concurrent API requests (reads and writes) plus /health probes during them."""
    with ThreadPoolExecutor(n + 5) as pool:
        api = [pool.submit(_timed, *(("GET", base + "/api/workflows/projects") if i % 2 else
                                     ("POST", base + "/api/workflows", {"name": f"w{i}"}))) for i in range(n)]
        time.sleep(0.2)
        health = [pool.submit(_timed, "GET", base + "/health") for _ in range(5)]
        return [f.result() for f in api], [f.result() for f in health]


def _report(label, api, health):
    codes = sorted({str(s) for s, _, _ in api})
    print(f"{label}: codes {codes}, slowest API {max(d for _, _, d in api):.2f} s, "
          f"slowest /health {max(d for _, _, d in health):.3f} s")


def _assert_503s(api, health, bound):
    for status, headers, took in api:
        assert status == 503 and headers.get("retry-after"), (status, took)
        assert took < bound, took
    assert all(s == 200 and d < 1.0 for s, _, d in health), health


def test_redis_frozen_or_stopped_gives_fast_503_and_health_stays_fast(backend_factory):
    proc, url = start_redis()
    try:
        be = backend_factory(env={"REDIS_URL": url, "RATE_LIMIT_PER_MINUTE": "600"})
        assert request("GET", be.base_url + "/api/workflows/projects")[0] == 200
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            api, health = _burst(be.base_url)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        _report("redis frozen", api, health)
        _assert_503s(api, health, REDIS_BOUND_S)
        wait_until(lambda: request("GET", be.base_url + "/api/workflows/projects")[0] == 200, 10,
                   message="API back once Redis answers")
        argv = proc.argv
        proc.stop()
        api, health = _burst(be.base_url)
        _report("redis stopped", api, health)
        _assert_503s(api, health, REDIS_BOUND_S)
        proc = Proc("redis", argv).start()
        wait_until(lambda: request("GET", be.base_url + "/api/workflows/projects")[0] == 200, 15,
                   message="API back once Redis restarts")
        log = be.log()
        assert "Traceback" not in log and log.count('"redis unavailable"') <= 4, log[-3000:]
    finally:
        proc.stop()


def test_frozen_database_gives_503_within_the_bound_and_nothing_hangs(backend_factory):
    pg = start_postgres()
    try:
        pg.execute("CREATE DATABASE app")
        be = backend_factory(env={"DATABASE_URL": pg.url("app")})
        assert request("GET", be.base_url + "/api/workflows/projects")[0] == 200
        pg.signal(signal.SIGSTOP)
        try:
            api, health = _burst(be.base_url, 60)
            ready = _timed("GET", be.base_url + "/ready")
        finally:
            pg.signal(signal.SIGCONT)
        _report("database frozen", api, health)
        _assert_503s(api, health, DB_BOUND_S)
        assert ready[0] == 503 and ready[2] < DB_BOUND_S, ready
        wait_until(lambda: request("GET", be.base_url + "/api/workflows/projects")[0] == 200, 20,
                   message="API back once the database answers")
        assert "Traceback" not in be.log()
    finally:
        pg.stop()
        import shutil

        shutil.rmtree(pg.datadir, ignore_errors=True)
