"""The prod overlay's Docker socket proxy allows only what log collection needs, proven against a real engine:
dockerd (tests/harness/docker_engine.py) behind HAProxy (Debian's haproxy, the program the
tecnativa/docker-socket-proxy image runs; the image itself cannot be built here) with the shipped
docker-socket-proxy/haproxy.cfg, rendered as the image's entrypoint renders it.

Before: the image's own template with CONTAINERS=1 let GET /containers/{id}/archive and /export through, which
read any container's files, /run/secrets included.
"""
from __future__ import annotations

import http.client
import io
import shutil
import tarfile
import time

import pytest

from harness import REPO, Proc, free_port, wait_until

SECRET = b"not-for-the-log-collector"

ALLOWED = [("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/version"), ("GET", "/v1.41/containers/json?all=1"),
           ("GET", "/networks"), ("GET", "/containers/{id}/json"),
           ("GET", "/v1.41/containers/{id}/logs?stdout=1&stderr=1"), ("GET", "/events?since=0&until={now}")]
REFUSED = [("GET", "/containers/{id}/archive?path=/run/secrets/token"), ("HEAD", "/containers/{id}/archive?path=/"),
           ("GET", "/v1.41/containers/{id}/export"), ("GET", "/containers/{id}%2Farchive?path=/"),
           ("GET", "/containers/{id}/logs/../archive?path=/"), ("POST", "/containers/{id}/start"),
           ("DELETE", "/containers/{id}"), ("POST", "/containers/create"), ("GET", "/images/json"),
           ("GET", "/info"), ("GET", "/volumes"), ("GET", "/secrets"), ("POST", "/containers/{id}/exec"),
           ("GET", "/containers/{id}/top"), ("GET", "/system/df")]


def _probe_image() -> bytes:
    """A root file system with only a secret file in it, as `docker import` takes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("run/secrets/token")
        info.size = len(SECRET)
        tar.addfile(info, io.BytesIO(SECRET))
    return buf.getvalue()


@pytest.fixture
def proxy(engine, tmp_path):
    if not shutil.which("haproxy"):
        pytest.fail("haproxy is not installed: apt-get install haproxy (scripts/test-deps.sh does it in CI)")
    port = free_port()
    template = (REPO / "docker-socket-proxy" / "haproxy.cfg").read_text()
    config = tmp_path / "haproxy.cfg"
    config.write_text(template.replace("${BIND_CONFIG}", f"127.0.0.1:{port}"))  # what the entrypoint's sed does
    proc = Proc("haproxy", ["haproxy", "-W", "-db", "-f", str(config)],
                env={"SOCKET_PATH": str(engine.socket), "LOG_LEVEL": "info"}).start()

    def up():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    wait_until(up, 20, message="haproxy in front of dockerd")
    yield port
    proc.stop()


def test_the_socket_proxy_passes_log_collection_and_refuses_archive_and_export(engine, proxy):
    engine.docker("import", "-", "vigil-proxy-probe:1", input=_probe_image())
    cid = engine.docker("create", "--name", "proxy-probe", "vigil-proxy-probe:1", "/none").stdout.strip()
    try:
        # The engine itself hands the secret out: the refusal below is the proxy's doing.
        assert SECRET in engine.docker("export", cid, input=b"").stdout  # bytes in, bytes out

        def call(method: str, path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
            conn.request(method, path.format(id=cid, now=int(time.time())))
            r = conn.getresponse()
            return r.status, r.read()

        allowed = {f"{m} {p}": call(m, p) for m, p in ALLOWED}
        refused = {f"{m} {p}": call(m, p) for m, p in REFUSED}
    finally:
        engine.docker("rm", "-f", cid)
        engine.docker("rmi", "vigil-proxy-probe:1", check=False)
    passed = [k for k, (s, _) in allowed.items() if s == 200]
    blocked = [k for k, (s, body) in refused.items() if s == 403 and SECRET not in body]
    print(f"socket proxy: {len(passed)}/{len(allowed)} log-collection calls answered 200, "
          f"{len(blocked)}/{len(refused)} other calls refused with 403 (archive and export among them)")
    assert passed == list(allowed), {k: s for k, (s, _) in allowed.items()}
    assert blocked == list(refused), {k: s for k, (s, _) in refused.items()}
    assert b"proxy-probe" in allowed["GET /v1.41/containers/json?all=1"][1]
