"""The /metrics endpoint, single-process or multi-process.

With several workers (gunicorn, ``uvicorn --workers``) set PROMETHEUS_MULTIPROC_DIR
to an empty, writable directory *before* the workers import prometheus_client:
each worker writes its samples there and any worker can serve the sum. Call
``wipe_multiproc_dir()`` once in the master before forking and
``mark_worker_dead(pid)`` when a worker exits (see backend/gunicorn.conf.py).
Exemplars exist only in single-process mode and only in OpenMetrics output.
"""
from __future__ import annotations

import os
import shutil

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(accept: str | None = None) -> tuple[bytes, str]:
    """Return (body, content type) for the given Accept header."""
    if MULTIPROC_DIR:
        registry = CollectorRegistry()  # fresh per scrape: it reads every worker's files
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = render(request.headers.get("accept"))
    return Response(body, media_type=content_type)


def wipe_multiproc_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR: stale files from a previous run would be summed in."""
    if not MULTIPROC_DIR:
        return
    os.makedirs(MULTIPROC_DIR, exist_ok=True)
    for name in os.listdir(MULTIPROC_DIR):
        path = os.path.join(MULTIPROC_DIR, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (livesum/liveall/livemax modes)."""
    if MULTIPROC_DIR:
        multiprocess.mark_process_dead(pid, MULTIPROC_DIR)
