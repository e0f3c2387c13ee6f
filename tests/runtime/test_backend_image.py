"""The backend image run alone, as `docker run vigil-backend:dev` (no Compose, no PostgreSQL): it becomes ready.

Real programs: dockerd and the image built from backend/Dockerfile (uvicorn, SQLite in the image's data folder).
"""
from __future__ import annotations

import json

from harness import http_get

from .stack import free_ports, wait_for


def test_the_image_alone_becomes_ready_as_its_unprivileged_user(engine, images):
    image = sorted(images["backend"])[0]
    port = free_ports(1)[0]
    cid = engine.docker("run", "-d", "-p", f"127.0.0.1:{port}:8000", image).stdout.strip()
    try:
        def ready():
            state = engine.inspect(cid)["State"]
            assert state["Running"], engine.docker("logs", cid, check=False).stderr[-2000:]
            code, body = http_get(f"http://127.0.0.1:{port}/ready", timeout=3)
            assert code == 200, body  # kept as the last error when the deadline passes
            return True
        wait_for(ready, 60, "the backend's /ready", interval=1)
        assert engine.docker("exec", cid, "id", "-u").stdout.strip() == "10001"
        # The statistics come from the database, i.e. the SQLite file the image can write.
        code, body = http_get(f"http://127.0.0.1:{port}/api/stats/real-time")
        assert code == 200 and json.loads(body), body
    finally:
        engine.docker("rm", "-f", "-v", cid, check=False)
