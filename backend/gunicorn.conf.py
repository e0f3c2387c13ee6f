"""Gunicorn settings for several workers (production): `gunicorn -c gunicorn.conf.py app.asgi:app`.

With more than one worker, Prometheus metrics go through PROMETHEUS_MULTIPROC_DIR
(a tmpfs in docker-compose.prod.yml): the master empties it before forking and
drops each dead worker's live gauges, so /metrics sums the live workers only.
"""
import os

from observability.exposition import mark_worker_dead, wipe_multiproc_dir

bind = f"0.0.0.0:{os.getenv('PORT', '8000')}"
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 20
timeout = 60
accesslog = None  # the instrumentation writes its own JSON access log


def on_starting(server):
    wipe_multiproc_dir()


def child_exit(server, worker):
    mark_worker_dead(worker.pid)
