"""The backend fits its production memory limit after a connection burst: gunicorn with 2 workers (the prod
default) and the overlay's environment, over a real PostgreSQL and redis-server from tests/harness; PSS read
from /proc/<pid>/smaps_rollup of the master and its workers.

Before: 387 MiB after 1,200 concurrent connections and 397 MiB idle, over the 384M limit, never returned.
"""
from __future__ import annotations

import asyncio
import re
import subprocess

import yaml

from harness import REPO, wait_until
from logs_traces.receivers import OtlpReceiver, SentryReceiver

CONNECTIONS = 1200
PATHS = ("/api/models", "/api/workflows/projects", "/api/stats/real-time")


def _pss_mib(master: int) -> float:
    pids = [master, *map(int, subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                             text=True).stdout.split())]
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    return total / 1024


class _ComposeLoader(yaml.SafeLoader):
    """Reads Compose's !reset / !override tags as plain values."""


def _tagged(loader, tag, node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)


_ComposeLoader.add_multi_constructor("!", _tagged)


def _limit_mib(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([MG])", value).groups()
    return int(number) * (1024 if unit == "G" else 1)


async def _burst(port: int, n: int) -> dict[str, int]:
    """n connections at once, each one GET; returns the count per status line (or error)."""
    async def one(i: int) -> str:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(f"GET {PATHS[i % len(PATHS)]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status = (await asyncio.wait_for(reader.readline(), 60)).split(b" ")[1].decode()
            await reader.read()
            writer.close()
            return status
        except (OSError, asyncio.TimeoutError, IndexError) as exc:
            return type(exc).__name__

    results = await asyncio.gather(*(one(i) for i in range(n)))
    return {s: results.count(s) for s in sorted(set(results))}


def test_two_workers_stay_under_the_prod_memory_limit_after_1200_connections(backend_factory, pg_database,
                                                                             redis_url):
    with OtlpReceiver() as otlp, SentryReceiver() as sentry:
        _measure(backend_factory, pg_database, redis_url, otlp, sentry)


def _measure(backend_factory, pg_database, redis_url, otlp, sentry):
    prod = yaml.load((REPO / "docker-compose.prod.yml").read_text(), _ComposeLoader)["services"]["backend"]
    limit = _limit_mib(prod["deploy"]["resources"]["limits"]["memory"])
    # The overlay's settings (defaults of ${VAR:-default} taken), but neither its secrets nor its paths.
    env = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in prod["environment"].items()
           if "FILE" not in k and "URL" not in k and k not in ("PROMETHEUS_MULTIPROC_DIR", "API_KEYS", "SENTRY_DSN")}
    env.update({"DATABASE_URL": pg_database, "REDIS_URL": redis_url, "ENVIRONMENT": "development",
                "WEB_CONCURRENCY": "2", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,  # tracing and Sentry on, as in prod
                "SENTRY_DSN": f"http://public@127.0.0.1:{sentry.port}/1"})
    be = backend_factory(server="gunicorn", workers=2, nofile=1024, env=env)
    wait_until(lambda: len(subprocess.run(["pgrep", "-P", str(be.pid)], capture_output=True).stdout.split()) == 2,
               30, message="2 workers")
    start = _pss_mib(be.pid)
    codes, after = {}, []
    for _ in range(4):  # growth that is never returned shows up as a rise from one burst to the next
        for status, n in asyncio.run(_burst(be.port, CONNECTIONS)).items():
            codes[status] = codes.get(status, 0) + n
        after.append(_pss_mib(be.pid))
    peak = max(after)
    print(f"PSS of master + 2 workers: {start:.0f} MiB at start, after each burst of {CONNECTIONS} connections "
          f"{', '.join(f'{x:.0f}' for x in after)} MiB; limit {limit:.0f} MiB (margin {limit - peak:.0f} MiB); "
          f"answers {codes}")
    assert codes.get("200", 0) >= 3 * CONNECTIONS  # the service kept serving (over the cap: resets)
    assert peak < 0.8 * limit
    assert after[-1] - after[1] < 0.1 * limit  # a plateau, not a leak
