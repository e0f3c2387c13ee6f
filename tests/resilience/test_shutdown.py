"""Accepted work is never left behind: gunicorn (2 workers, as in production) over a real PostgreSQL
from tests/harness, stopped with SIGTERM mid-load and SIGKILLed if still alive at the prod overlay's
stop_grace_period; and PostgreSQL frozen (SIGSTOP) while workflows run.
"""
from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from backend.helpers import request
from harness import REPO, wait_until

# The backend's stop_grace_period in the prod overlay (the only one it sets).
GRACE_S = float(re.search(r"stop_grace_period: (\d+)s", (REPO / "docker-compose.prod.yml").read_text()).group(1))


def _unfinished(postgres, db: str) -> int:
    return postgres.execute("SELECT count(*) FROM workflows WHERE status IN ('pending', 'running')",
                            db=db, fetch=True)[0][0]


def test_sigterm_drains_or_closes_every_accepted_workflow(backend_factory, pg_database, postgres):
    # One caller sends all 120: the per-caller queue share (a quarter by default) is not what this test is about.
    be = backend_factory(env={"DATABASE_URL": pg_database, "LLM_LATENCY_SCALE": "1", "WORKFLOW_QUEUE_SHARE": "1"},
                         server="gunicorn",
                         workers=2)
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: request("POST", be.base_url + "/api/workflows", {"name": f"w{i}"})[0],
                              range(120)))
    accepted = codes.count(202)
    assert accepted >= 100, codes
    t0 = time.monotonic()
    os.killpg(be.pid, signal.SIGTERM)
    try:
        be.popen.wait(GRACE_S)
        killed = False
    except Exception:
        os.killpg(be.pid, signal.SIGKILL)  # what Docker does at stop_grace_period
        be.popen.wait(5)
        killed = True
    took = time.monotonic() - t0
    db = pg_database.rsplit("/", 1)[1]
    left = _unfinished(postgres, db)
    outcome = dict(postgres.execute("SELECT coalesce(error_type, status), count(*) FROM workflows GROUP BY 1",
                                    db=db, fetch=True))
    print(f"accepted {accepted}; exit after SIGTERM {took:.1f} s (grace {GRACE_S:.0f} s, killed: {killed}); "
          f"left pending/running: {left}; outcomes {outcome}")
    assert not killed and left == 0


def test_database_outage_mid_run_leaves_no_workflow_running(backend_factory, pg_database, postgres):
    be = backend_factory(env={"DATABASE_URL": pg_database, "LLM_LATENCY_SCALE": "0.3"})
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: request("POST", be.base_url + "/api/workflows", {"name": f"o{i}"})[0],
                              range(40)))
    postgres.signal(signal.SIGSTOP)
    time.sleep(5)  # the outage itself: runs hit it mid-flight
    postgres.signal(signal.SIGCONT)
    db = pg_database.rsplit("/", 1)[1]
    wait_until(lambda: _unfinished(postgres, db) == 0, 60, interval=0.5, message="every workflow closed")
    print(f"accepted {codes.count(202)}; left pending/running after the outage: {_unfinished(postgres, db)}")
