"""Several worker processes: the prometheus_client multiprocess folder, set up once by the parent.

Set PROMETHEUS_MULTIPROC_DIR to a folder of its own (a tmpfs in production). The parent empties it
once before the workers start, and drops each dead worker's live gauges; each worker creates it if
missing and never empties it (docs/instrumenting-your-app.md, "Several workers").

gunicorn, with this module as its config (command-line options still apply):
    gunicorn -c python:observability.workers -k uvicorn_worker.UvicornWorker -w 2 main:app
uvicorn, whose parent does not run application code: empty it from the shell first:
    python -m observability.workers && uvicorn main:app --workers 2
"""
from __future__ import annotations

import sys

from .exposition import mark_worker_dead, multiproc_dir, wipe_multiproc_dir


def on_starting(server) -> None:
    """gunicorn: in the master, once, before the first worker is forked."""
    wipe_multiproc_dir()


def child_exit(server, worker) -> None:
    """gunicorn: in the master, after a worker exited."""
    mark_worker_dead(worker.pid)


def main() -> int:
    if not multiproc_dir():
        print("PROMETHEUS_MULTIPROC_DIR is not set: one process, nothing to prepare.", file=sys.stderr)
        return 0
    removed = wipe_multiproc_dir()
    print(f"{multiproc_dir()}: ready ({removed} sample files of a previous run removed).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
