"""Gunicorn settings for several workers (production): `gunicorn -c gunicorn.conf.py app.asgi:app`.

With more than one worker, Prometheus metrics go through PROMETHEUS_MULTIPROC_DIR
(a tmpfs in docker-compose.prod.yml): the master empties it before forking and
drops each dead worker's live gauges, so /metrics sums the live workers only.

Attacks bounded here:
- idle and slow connections (app/server.py): a request head must arrive within HTTP_HEAD_TIMEOUT_SECONDS
  (10 s), and a worker holds at most worker_connections, fewer than its open-file limit; over the cap the
  oldest connection still waiting for a head is closed;
- h11 parser (as the uvicorn command lines: Dockerfile, docker-compose.yml, Makefile): a request head over
  16 KiB gets 400 and its connection is closed (httptools has no bound: 8 connections of 40 MB headers took one worker to 396 MB);
- the client address comes from X-Forwarded-For only when the peer is one of FORWARDED_ALLOW_IPS
  (empty: nobody, so a client cannot pick its own address to escape a block or a rate limit; behind
  the reverse proxy set it to the proxy's address or network, see docs/production.md).
"""
import os

# Importing the observability package creates its metrics, and in multiprocess mode each one opens a file in
# PROMETHEUS_MULTIPROC_DIR at once: the folder must exist first (the prod overlay puts it on a fresh tmpfs).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from observability.exposition import mark_worker_dead, wipe_multiproc_dir  # noqa: E402

bind = f"0.0.0.0:{os.getenv('PORT', '8000')}"
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
worker_class = "app.server.BoundedH11Worker"  # uvicorn's h11 worker with connection bounds (app/server.py)
worker_connections = int(os.getenv("WORKER_CONNECTIONS", "1000"))  # per worker; lowered to fit the open-file limit
# The listen queue, and how many sockets a worker accepts in one go: part of its open-file budget (app/server.py).
backlog = int(os.getenv("BACKLOG", "256"))
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "")
# Recycle a worker after about this many requests (jitter: not all at once), so memory the allocator keeps
# after bursts cannot creep up over days (tests/resilience/test_memory.py: a plateau near 245 MiB for 2 workers).
max_requests = int(os.getenv("MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
graceful_timeout = 25  # < stop_grace_period (30 s) in docker-compose.prod.yml
timeout = 60
accesslog = None  # the instrumentation writes its own JSON access log


def on_starting(server):
    wipe_multiproc_dir()


def child_exit(server, worker):
    mark_worker_dead(worker.pid)
