"""Settings from environment variables (and an optional .env file)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "backend"
    # "production" makes the backend refuse to start with development secrets (app/preflight.py).
    environment: str = "development"
    database_url: str = "sqlite:///./vigil.db"
    db_timeout_seconds: float = 2.0      # connect, pool checkout and statement timeout: then 503
    redis_url: str | None = None         # security state and faults; run it with noeviction
    cache_redis_url: str | None = None   # LLM response cache; unset = an in-process LRU per worker

    # Security (empty API_KEYS = write endpoints open, the dev default).
    api_keys: str = ""
    rate_limit_per_minute: int = 600
    block_after_events: int = 5          # security events within block_window_seconds ...
    block_window_seconds: int = 60
    block_seconds: int = 300             # ... block the client this long (403)
    max_body_bytes: int = 64 * 1024

    # Administration (/api/admin/*): a credential of its own, never an API key. Empty = open (dev).
    admin_token: str = ""
    # PUT/DELETE /api/admin/faults; the prod overlay turns it off unless FAULT_INJECTION=true.
    fault_injection: bool = True

    # Tenants allowed as metric labels; any other X-Tenant-ID counts as "other".
    tenants: str = "default,acme,globex,initech"

    # Simulated LLM providers.
    llm_failure_rate: float = 0.02       # probability a call fails (demos, tests)
    llm_latency_scale: float = 1.0       # multiplies simulated latencies; 0 = instant
    llm_cache_ttl_seconds: int = 3600
    breaker_failure_threshold: int = 5   # consecutive failures that open a provider's breaker
    breaker_reset_seconds: float = 30.0  # open -> half-open after this long
    monthly_budget_usd: float = 600.0
    # On SIGTERM, queued workflows keep running this long; then the rest are marked failed ("interrupted").
    # Keep it under the server's graceful timeout (gunicorn.conf.py: 25 s) minus one run.
    shutdown_drain_seconds: float = 15.0
    # A worker beats every fifth of this; one silent this long is dead (kill -9, OOM) and its unfinished
    # workflows are marked failed ("interrupted") by a live worker.
    workflow_owner_timeout_seconds: float = 5.0
    # Share of a worker's workflow queue (200 places) one API key may hold; over it: 429 with Retry-After.
    workflow_queue_share: float = Field(0.25, gt=0, le=1)

    @field_validator("redis_url", "cache_redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return v or None

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    @property
    def tenant_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.tenants.split(",") if t.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()
