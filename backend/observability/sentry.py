"""Optional error reporting to Sentry, on only when SENTRY_DSN is set.

Call ``init_sentry()`` before the FastAPI app is created: the integrations patch
FastAPI/Starlette classes, and routes defined earlier would miss request data.

    SENTRY_DSN                    where events go (unset: nothing is initialised)
    SENTRY_TRACES_SAMPLE_RATE     share of requests sent as performance traces (default 0.1)
    SENTRY_PROFILES_SAMPLE_RATE   share of those traces profiled (default 0: profiles are large)
    SENTRY_SAMPLE_RATE            share of error events sent (default 1.0)
    SENTRY_EVENT_INTERVAL_SECONDS one event per distinct error per this many seconds (default 60)
    SENTRY_ENVIRONMENT, SENTRY_RELEASE   read by the SDK itself

Nothing personal or secret leaves the process: send_default_pii is off, request
bodies are never attached, and ``scrub`` (run on every event and transaction) drops
cookies and credential headers, masks anything whose name or shape looks secret and
every IP address, and cuts Redis commands to their name (their keys often hold a client's
address or id). A flood of one error (a database outage: one per request) sends one event
per interval, not one per request.
"""
from __future__ import annotations

import os
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode

from .extras import require

FILTERED = "[Filtered]"
# Key names whose values are never sent: matched as whole words inside the key,
# so "access_token" and "X-API-Key" match while "input_tokens" does not.
SECRET_KEY = re.compile(
    r"(?i)(?:^|[\W_])(?:pass(?:word|wd)?|secret|token|api[_-]?key|apikey|auth(?:orization)?|cookie|"
    r"set-cookie|session(?:id)?|csrf|xsrf|dsn|credentials?|private[_-]?key|signature)(?:$|[\W_])")
# Secret-looking values inside free text (messages, local variables' reprs).
SECRET_VALUE = re.compile(
    r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"      # Authorization header values
    r"|\bsk-[A-Za-z0-9_-]{8,}"                               # provider API keys
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")  # JWTs
URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^/\s@]+@")    # postgresql://user:PASSWORD@host
# "password": "x" / password=x inside a string (e.g. the repr of a dict held in a local).
SECRET_PAIR = re.compile(
    r"(?i)((?:pass(?:word|wd)?|secret|token|api[_-]?key|authorization|cookie|dsn)['\"]?\s*[:=]\s*)"
    r"(?:'[^']*'|\"[^\"]*\"|[^\s,;&}'\"]+)")
# IP addresses (a client's, in a Redis key or a message): IPv4, and IPv6 in full or with "::".
IP_ADDRESS = re.compile(
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"
    r"|(?<!\w)(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?!\w)"
    r"|(?<!\w)(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?!\w)")
_DROP_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def _scrub_text(text: str) -> str:
    text = URL_PASSWORD.sub(r"\1" + FILTERED + "@", SECRET_VALUE.sub(FILTERED, text))
    return IP_ADDRESS.sub(FILTERED, SECRET_PAIR.sub(r"\1" + FILTERED, text))


def _redis_command_only(event: dict) -> None:
    """Redis spans and breadcrumbs keep the command name, never its key or arguments."""
    for span in event.get("spans") or ():
        if isinstance(span, dict) and str(span.get("op", "")).startswith("db.redis"):
            span["description"] = str(span.get("description") or "").split(" ", 1)[0]
            for field in ("tags", "data"):
                if isinstance(span.get(field), dict):
                    span[field] = {k: v for k, v in span[field].items() if k not in ("redis.key", "redis.commands")}
    crumbs = event.get("breadcrumbs")
    for crumb in (crumbs.get("values") if isinstance(crumbs, dict) else crumbs) or ():
        if isinstance(crumb, dict) and crumb.get("category") == "redis":
            crumb["message"] = str(crumb.get("message") or "").split(" ", 1)[0]
            if isinstance(crumb.get("data"), dict):
                crumb["data"].pop("redis.key", None)


def _scrub(value, depth: int = 0):
    if depth > 32:
        return FILTERED
    if isinstance(value, dict):
        return {k: FILTERED if isinstance(k, str) and SECRET_KEY.search(k) else _scrub(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # A (name, value) pair, like ASGI headers: [b'x-api-key', b'...'] in a scope's repr.
        if len(value) == 2 and isinstance(value[0], str) and SECRET_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def scrub(event: dict, hint=None) -> dict:
    """before_send / before_send_transaction: strip bodies, cookies, credentials."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)      # bodies: never
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _DROP_HEADERS}
        query = request.get("query_string")
        if isinstance(query, str) and query:
            request["query_string"] = urlencode(
                [(k, FILTERED if SECRET_KEY.search(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)])
    _redis_command_only(event)
    return _scrub(event)


class OncePerInterval:
    """before_send: the first event of each distinct error per ``interval`` seconds, the rest dropped.

    Distinct = the exception's type and the transaction (route), or the log message's template and logger.
    """

    def __init__(self, interval: float, max_keys: int = 1000):
        self.interval, self.max_keys = interval, max_keys
        self._sent: dict[tuple, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(event: dict) -> tuple:
        exceptions = (event.get("exception") or {}).get("values") or []
        if exceptions:
            return ("exception", exceptions[-1].get("type"), event.get("transaction"))
        entry = event.get("logentry") or {}
        return ("log", event.get("logger"), entry.get("message") or event.get("message"))

    def __call__(self, event: dict, hint=None):
        key, now = self.key(event), time.monotonic()
        with self._lock:
            if now - self._sent.get(key, float("-inf")) < self.interval:
                return None
            if len(self._sent) >= self.max_keys:
                self._sent.clear()
            self._sent[key] = now
        return scrub(event, hint)


def init_sentry(service: str, version: str = "0.0.0", dsn: str | None = None) -> bool:
    """Initialise the Sentry SDK if a DSN is given or SENTRY_DSN is set; return whether it did."""
    dsn = dsn or os.getenv("SENTRY_DSN")
    if not dsn:
        return False
    require("sentry", "Error reporting is on (SENTRY_DSN is set)", "the Sentry SDK", "sentry_sdk")
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    integrations = [StarletteIntegration(), FastApiIntegration()]
    try:  # SQL breadcrumbs and spans, when the app uses SQLAlchemy
        from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

        integrations.append(SqlalchemyIntegration())
    except Exception:  # sentry raises DidNotEnable (not ImportError) when SQLAlchemy is absent
        pass

    sentry_sdk.init(
        dsn=dsn,
        release=os.getenv("SENTRY_RELEASE") or f"{service}@{version}",
        server_name=service,  # not the container's hostname
        sample_rate=float(os.getenv("SENTRY_SAMPLE_RATE", "1.0")),
        traces_sample_rate=float(os.getenv("SENTRY_TRACES_SAMPLE_RATE", "0.1")),
        profiles_sample_rate=float(os.getenv("SENTRY_PROFILES_SAMPLE_RATE", "0")),
        send_default_pii=False,
        max_request_body_size="never",
        before_send=OncePerInterval(float(os.getenv("SENTRY_EVENT_INTERVAL_SECONDS", "60"))),
        before_send_transaction=scrub,
        integrations=integrations,
    )
    return True
