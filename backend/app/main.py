"""The FastAPI application: wiring of settings, database, store, security and routes."""
from __future__ import annotations

import logging
import os
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from observability import instrument
from observability.db import instrument_engine

from . import __version__, metrics
from .api import admin, health, stats, workflows
from .api.deps import injected_http_fault, tenant
from .api.errors import API_ERRORS
from .db.demo_data import seed_catalogue
from .domain.catalog import PROVIDERS
from .db.session import init_schema, make_engine, make_sessionmaker
from .domain.faults import FAULTS
from .domain.workflows import WorkflowRunner, fail_abandoned
from .preflight import check_production
from .security.guard import PROBES, GuardMiddleware, SecurityGuard
from .security.limits import rate_limit
from .settings import Settings, get_settings
from .store import StoreUnavailable, make_store

log = logging.getLogger("app")


class HeadAsGet:
    """HEAD on a GET route: the GET's status and headers without its body (RFC 9110), as the Allow header says.
    FastAPI routes answer only the methods they declare, and declaring HEAD would double the API document."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)
        await self.app({**scope, "method": "GET"}, receive, headers_only)


@dataclass
class Services:
    settings: Settings
    engine: object
    sessions: object
    store: object  # security state: blocks, rate counters, faults
    cache: object  # LLM responses: a separate store, so cache pressure never evicts a block
    guard: SecurityGuard
    runner: WorkflowRunner


def zero_bounded_counters() -> None:
    """Counters whose label values form a small known set start at 0, so a dashboard shows an
    honest 0 (no auth failure yet) rather than "No data"."""
    for reason in ("missing", "invalid"):
        metrics.AUTH_FAILURES.labels(reason)
    for event_type in (*(kind for kind, _ in PROBES), "rate_limit_abuse", "auth_abuse"):
        metrics.SECURITY_EVENTS.labels(event_type)
    for provider in PROVIDERS:
        for old, new in (("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")):
            metrics.BREAKER_TRANSITIONS.labels(provider, old, new)


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url, settings.db_timeout_seconds)
    instrument_engine(engine)
    if os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"):  # tracing on: a child span per SQL statement
        from observability.tracing import trace_engine

        trace_engine(engine)
    sessions = make_sessionmaker(engine)
    store = make_store(settings.redis_url, max_keys=100_000)
    cache = make_store(settings.cache_redis_url)
    FAULTS.share(store)
    guard = SecurityGuard(store, settings.block_after_events, settings.block_window_seconds,
                          settings.block_seconds)
    runner = WorkflowRunner(sessions, cache, settings)
    return Services(settings, engine, sessions, store, cache, guard, runner)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_production(settings)  # raises before anything starts when production has development secrets
    if os.getenv("SENTRY_DSN"):  # before the app exists: Sentry patches FastAPI/Starlette classes
        from observability.sentry import init_sentry

        init_sentry(service=settings.service_name, version=__version__)
    svc = build_services(settings)
    zero_bounded_counters()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            init_schema(svc.engine)
            seed_catalogue(svc.sessions)
            if abandoned := fail_abandoned(svc.sessions):
                log.warning("workflows left unfinished by a previous process marked failed",
                            extra={"count": abandoned})
        except Exception as exc:  # the app still starts: /health answers, /ready says why
            log.error("schema creation failed; is the database up?", extra={"error": repr(exc)})
        # One connection of its own: a saturated request pool must not make this worker look dead.
        heartbeat_engine = make_engine(settings.database_url, settings.db_timeout_seconds, 1, 0)
        svc.runner.start_heartbeat(make_sessionmaker(heartbeat_engine))
        log.info("backend started", extra={"version": __version__, "redis": bool(settings.redis_url),
                                           "database": svc.engine.url.get_backend_name()})
        yield
        svc.runner.shutdown(settings.shutdown_drain_seconds)
        svc.engine.dispose()
        heartbeat_engine.dispose()

    # No trailing-slash redirects: Starlette builds their Location from the Host header, which the client sets.
    app = FastAPI(title="Vigil reference backend", version=__version__, lifespan=lifespan, redirect_slashes=False)
    app.state.services = svc

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # Same shape as FastAPI's default, minus the echo of the submitted input.
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database_down(request: Request, exc: Exception):
        log.error("database unavailable", extra={"error": type(getattr(exc, "orig", None) or exc).__name__})
        return JSONResponse({"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc):
        # Starlette's Allow lists only the first route matching the path; list every method the path takes,
        # as the OpenAPI document does (FastAPI caches the document).
        methods = set()
        for template, operations in app.openapi()["paths"].items():
            if re.fullmatch(re.sub(r"\{[^}/]+\}", "[^/]+", template), request.url.path):
                methods |= {m.upper() for m in operations} | ({"HEAD"} if "get" in operations else set())
        return JSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": ", ".join(sorted(methods))})

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable):
        return JSONResponse({"detail": "security store unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    api_deps = [Depends(tenant), Depends(rate_limit), Depends(injected_http_fault)]
    app.include_router(health.router)
    app.include_router(workflows.router, dependencies=api_deps, responses=API_ERRORS)
    app.include_router(stats.router, dependencies=api_deps, responses=API_ERRORS)
    app.include_router(admin.router, dependencies=[Depends(tenant), Depends(rate_limit)], responses=API_ERRORS)
    app.add_middleware(GuardMiddleware, guard=svc.guard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    # Last, so it is the outermost middleware and sees every response, 403/413 included.
    instrument(app, service=settings.service_name, version=__version__)
    return app
