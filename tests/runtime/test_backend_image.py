"""The backend image run alone, as `docker run vigil-backend:dev` (no Compose, no PostgreSQL): it becomes ready.

Real programs: dockerd and the image built from backend/Dockerfile (uvicorn, SQLite in the image's data folder).
"""
from __future__ import annotations

import json

from .stack import wait_for

# Asked from inside the container (the private engine has no default bridge to publish a port on).
GET = ("import sys, urllib.request, urllib.error\n"
       "try:\n"
       "    r = urllib.request.urlopen('http://127.0.0.1:8000' + sys.argv[1], timeout=3)\n"
       "except urllib.error.HTTPError as e:\n"
       "    r = e\n"
       "print(r.status); print(r.read().decode())\n")


def test_the_image_alone_becomes_ready_as_its_unprivileged_user(engine, images):
    image = sorted(images["backend"])[0]
    cid = engine.docker("run", "-d", image).stdout.strip()
    try:
        def get(path):
            state = engine.inspect(cid)["State"]
            assert state["Running"], engine.docker("logs", cid, check=False).stderr[-2000:]
            status, _, body = engine.docker("exec", cid, "python", "-c", GET, path).stdout.partition("\n")
            return int(status), body

        def ready():
            code, body = get("/ready")
            assert code == 200, body  # kept as the last error when the deadline passes
            return True
        wait_for(ready, 60, "the backend's /ready", interval=1)
        assert engine.docker("exec", cid, "id", "-u").stdout.strip() == "10001"
        # The statistics come from the database, i.e. the SQLite file the image can write.
        code, body = get("/api/stats/real-time")
        assert code == 200 and json.loads(body), body
    finally:
        engine.docker("rm", "-f", "-v", cid, check=False)
