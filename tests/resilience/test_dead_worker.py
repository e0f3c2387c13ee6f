"""A gunicorn worker killed with SIGKILL leaves nothing stale: gunicorn (2 workers, as in production) over a
real PostgreSQL and redis-server from tests/harness; the test kills real worker processes mid-run.

Before: circuit_breaker_state stayed at 2 (open) for the dead worker (a `max`-mode gauge outlives its process)
and its pending/running workflows stayed so until the 10-minute start-up sweep.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.mmap_dict import MmapedDict

from backend.helpers import request, sample, scrape
from harness import wait_until

TIMEOUT_S = 3.0  # WORKFLOW_OWNER_TIMEOUT_SECONDS for this test (default 5)


def _breaker_open_pids(folder: str) -> set[int]:
    """Workers whose own openai breaker is open, read from their multiprocess files."""
    pids = set()
    for path in glob.glob(os.path.join(folder, "gauge_*_*.db")):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(path):
            name, _, labels, _ = json.loads(key)
            if name == "circuit_breaker_state" and labels.get("provider") == "openai" and value == 2:
                pids.add(int(path.rsplit("_", 1)[1][:-3]))
    return pids


def test_killed_worker_leaves_no_open_breaker_and_no_running_workflow(backend_factory, pg_database, postgres,
                                                                       redis_url):
    be = backend_factory(server="gunicorn", workers=2, env={
        "DATABASE_URL": pg_database, "REDIS_URL": redis_url,  # Redis: both workers see the injected fault
        "LLM_LATENCY_SCALE": "2", "BREAKER_FAILURE_THRESHOLD": "2", "BREAKER_RESET_SECONDS": "3600",
        "WORKFLOW_OWNER_TIMEOUT_SECONDS": str(TIMEOUT_S)})
    db = pg_database.rsplit("/", 1)[1]
    folder = be.env["PROMETHEUS_MULTIPROC_DIR"]
    url = be.base_url + "/api/workflows"
    assert request("PUT", be.base_url + "/api/admin/faults",
                   {"providers": {"openai": {"failure_rate": 1}}, "duration_seconds": 600})[0] == 200
    failing = {"name": "f", "steps": [{"agent": "planner", "model": "gpt-4o-mini"}]}
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: request("POST", url, failing)[0], range(8))) == {202}
    # Every failing run over (so no breaker changes any more), then the workers whose breaker is open.
    wait_until(lambda: postgres.execute("SELECT count(*) FROM workflows WHERE status = 'failed'", db=db,
                                        fetch=True)[0][0] == 8, 30, message="the 8 failing runs over")
    assert sample(scrape(be.base_url), "circuit_breaker_state", provider="openai") == 2
    victims = _breaker_open_pids(folder)
    assert victims
    # Long runs (3 steps of about 3.6 s) on every worker, so the victims die with work pending and running.
    slow = {"name": "s", "steps": [{"agent": "writer", "model": "claude-opus-4-1"}] * 3}
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: request("POST", url, slow)[0], range(16))) == {202}
    owners = [row[0] for row in postgres.execute(
        "SELECT id FROM workflow_owners WHERE pid = ANY(%s)", db=db, params=(list(victims),), fetch=True)]
    assert len(owners) == len(victims)

    def stale_workflows() -> int:
        return postgres.execute("SELECT count(*) FROM workflows WHERE status IN ('pending', 'running') "
                                "AND owner = ANY(%s)", db=db, params=(owners,), fetch=True)[0][0]

    wait_until(lambda: postgres.execute("SELECT count(*) FROM workflows WHERE status = 'running' "
                                        "AND owner = ANY(%s)", db=db, params=(owners,), fetch=True)[0][0], 10,
               message="a victim's workflow running")
    left_behind = stale_workflows()
    t0 = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: sample(scrape(be.base_url), "circuit_breaker_state", provider="openai") == 0, 30,
               interval=0.2, message="the dead worker's open breaker gone from /metrics")
    gauge_s = time.monotonic() - t0
    wait_until(lambda: stale_workflows() == 0, 30, interval=0.2, message="the dead worker's workflows closed")
    workflows_s = time.monotonic() - t0
    closed = dict(postgres.execute("SELECT coalesce(error_type, status), count(*) FROM workflows "
                                   "WHERE owner = ANY(%s) GROUP BY 1", db=db, params=(owners,), fetch=True))
    print(f"killed {len(victims)} worker(s) with an open breaker and {left_behind} unfinished workflows: "
          f"gauge clean after {gauge_s:.1f} s, workflows closed after {workflows_s:.1f} s "
          f"(owner timeout {TIMEOUT_S:.0f} s); their workflows: {closed}")
    assert closed.get("interrupted", 0) >= 1
    assert workflows_s < TIMEOUT_S + 10
    # The other workers' runs are not touched: every workflow ends completed, or interrupted for a victim.
    wait_until(lambda: postgres.execute("SELECT count(*) FROM workflows WHERE status IN ('pending', 'running')",
                                        db=db, fetch=True)[0][0] == 0, 60, interval=0.5,
               message="every workflow finished")
    wrong = postgres.execute("SELECT count(*) FROM workflows WHERE error_type = 'interrupted' "
                             "AND NOT owner = ANY(%s)", db=db, params=(owners,), fetch=True)[0][0]
    assert wrong == 0
