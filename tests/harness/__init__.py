"""The one harness for tests that start real programs.

It starts processes with their output in a log file, waits for them by polling
with a deadline (never a bare sleep), stops them by PID, and lets conftest.py
print every live process's log when a test fails. PostgreSQL, Redis, the
backend, Prometheus, Alertmanager and the exporters are all started through it.
"""
from .procs import Proc, free_port, running_procs, wait_until, http_get  # noqa: F401
from .services import (  # noqa: F401
    REPO, BACKEND_DIR, Postgres, start_backend, start_postgres, start_redis, venv_bin,
)
