"""Superset's configuration in Vigil (SUPERSET_CONFIG_PATH points here; mounted read-only).

Nothing secret is written here; it comes from the environment or from Compose secrets (files):
  SUPERSET_SECRET_KEY(_FILE)         signs sessions and encrypts the database passwords Superset
                                     stores. Required. Changing it later makes stored passwords
                                     unreadable (`superset re-encrypt-secrets` migrates them).
  SUPERSET_DATABASE_URI              Superset's own metadata database, without password
                                     (postgresql+psycopg2://superset@superset-db:5432/superset)
  SUPERSET_DATABASE_PASSWORD(_FILE)  its password (optional: SQLite in the tests has none)
  SUPERSET_REDIS_URL                 optional cache (e.g. redis://redis:6379/1); in-memory otherwise
"""
import os

from sqlalchemy.engine import make_url


def _secret(name: str, required: bool = True) -> str:
    value, path = os.environ.get(name), os.environ.get(name + "_FILE")
    if value and path:
        raise RuntimeError(f"set {name} or {name}_FILE, not both")
    if path:
        with open(path) as f:
            value = f.read().rstrip("\n")  # editors and `echo >` leave a newline behind
    if required and not value:
        raise RuntimeError(f"{name} (or {name}_FILE) is not set: see docs/superset.md")
    return value or ""


SECRET_KEY = _secret("SUPERSET_SECRET_KEY")

if not os.environ.get("SUPERSET_DATABASE_URI"):
    raise RuntimeError("SUPERSET_DATABASE_URI is not set: see docs/superset.md")
_url = make_url(os.environ["SUPERSET_DATABASE_URI"])
if _password := _secret("SUPERSET_DATABASE_PASSWORD", required=False):
    _url = _url.set(password=_password)
SQLALCHEMY_DATABASE_URI = _url.render_as_string(hide_password=False)

if _redis := os.environ.get("SUPERSET_REDIS_URL"):
    _cache = {"CACHE_TYPE": "RedisCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_REDIS_URL": _redis}
    CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "superset_"}
    DATA_CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "superset_data_"}
    RATELIMIT_STORAGE_URI = _redis
