"""Production Redis as docker-compose.prod.yml runs it: the real redis-server started with the overlay's own
command line (the `backend` user's password from a secret file, noeviction, a stats-only `default` user),
the real redis_exporter (Prometheus family, tools folder) as that default user, and the backend under uvicorn started through
backend/entrypoint.py with REDIS_PASSWORD_FILE, as the image does.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import redis

from backend.helpers import request
from compose.stack import PROD, ROOT, model, read_env_file
from harness import BACKEND_DIR, Proc, free_port, http_get, venv_bin, wait_until
from harness.monitoring import binary

PASSWORD = "prod-redis-pw-81c4f0"


def _prod_redis_command(tmp: Path) -> str:
    values = {k: (v or f"prod-{k.lower()}-value-123456") for k, v in read_env_file(ROOT / ".env.example").items()}
    env = tmp / "prod.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    command = model(PROD, env)["services"]["redis"]["command"]
    assert command[:2] == ["sh", "-c"] and "docker-entrypoint.sh redis-server" in command[2]
    return command[2]


def test_prod_redis_needs_its_password_and_the_exporter_only_reads_stats():
    tmp = Path(tempfile.mkdtemp(prefix="vigil-prod-redis-"))
    try:
        script = _prod_redis_command(tmp)
        secret = tmp / "redis_password"
        secret.write_text(PASSWORD + "\n")
        port = free_port()
        # Outside Docker: no image entrypoint, the secret at a temporary path, a free port; `config` prints
        # `$$` escaped, Compose passes it to the container as `$`.
        script = (script.replace("docker-entrypoint.sh ", "").replace("/run/secrets/redis_password", str(secret))
                  .replace("$$", "$"))
        server = Proc("redis-prod", ["sh", "-c", script + f" --port {port} --bind 127.0.0.1 --dir {tmp}"]).start()
        admin = redis.Redis(port=port, username="backend", password=PASSWORD)
        wait_until(admin.ping, 15, message="prod redis")
        try:
            assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
            anonymous = redis.Redis(port=port)  # what a process on the network gets without the password
            admin.set("block:ip:198.51.100.7", "1", ex=60)
            for attempt in (lambda: anonymous.set("x", "1"), lambda: anonymous.get("block:ip:198.51.100.7"),
                            lambda: anonymous.delete("block:ip:198.51.100.7"), anonymous.flushall):
                try:
                    attempt()
                    raise AssertionError("Redis obeyed a client without the password")
                except redis.exceptions.NoPermissionError:
                    pass
            assert anonymous.ping() and admin.ttl("block:ip:198.51.100.7") > 0
            try:
                redis.Redis(port=port, username="backend", password="wrong").ping()
                raise AssertionError("a wrong password was accepted")
            except redis.AuthenticationError:
                pass

            web = free_port()
            exporter = Proc("redis-exporter", [binary("redis_exporter"),
                                               "-redis.addr", f"redis://127.0.0.1:{port}",
                                               "-web.listen-address", f"127.0.0.1:{web}"]).start()
            try:
                def scraped():
                    code, body = http_get(f"http://127.0.0.1:{web}/metrics")
                    return code == 200 and "\nredis_up 1" in body.decode() and body.decode()
                text = wait_until(scraped, 20, message="redis_exporter scraping without a password")
                assert "\nredis_memory_used_bytes " in text and "\nredis_connected_clients " in text
            finally:
                exporter.stop()

            # The backend as the image starts it: entrypoint.py puts the password file into REDIS_URL.
            entry = [sys.executable, str(BACKEND_DIR / "entrypoint.py"), venv_bin("uvicorn")]
            wport = free_port()
            be = Proc("backend", entry + ["app.asgi:app", "--host", "127.0.0.1", "--port", str(wport)],
                      env={"REDIS_URL": f"redis://backend@127.0.0.1:{port}/0", "REDIS_PASSWORD_FILE": str(secret),
                           "DATABASE_URL": f"sqlite:///{tmp}/vigil.db", "FORWARDED_ALLOW_IPS": ""},
                      cwd=str(BACKEND_DIR)).start()
            try:
                be.wait_http(f"http://127.0.0.1:{wport}/health")
                assert request("GET", f"http://127.0.0.1:{wport}/ready")[0] == 200
                assert request("GET", f"http://127.0.0.1:{wport}/api/models")[0] == 200
                assert any(k.startswith(b"rl:") for k in admin.keys("*"))  # its counters are in this Redis
            finally:
                be.stop()
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
