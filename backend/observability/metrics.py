"""The generic metrics of any ASGI / FastAPI service, defined once.

Names follow Prometheus conventions (base units, ``_total`` for counters). The
HTTP server metrics use the names OpenTelemetry's semantic conventions get when
rendered in Prometheus, so dashboards work with either source. An application's own
(business) metrics live in the application, next to its code (the reference backend's
in backend/app/metrics.py); ``docs/metrics.md`` documents both and a test keeps it in
step with what ``/metrics`` exposes.

Label values are always drawn from bounded sets chosen by the code (route
templates, enum-like strings), never from raw client input.

``multiprocess_mode`` only matters when PROMETHEUS_MULTIPROC_DIR is set
(several gunicorn/uvicorn workers): "livesum" adds up live workers, "max" keeps
the worst worker's value.
"""
import os

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# In multi-process mode every metric opens a file in PROMETHEUS_MULTIPROC_DIR as it is created: make the
# folder if it is missing (each worker imports this: created here, never emptied here; see workers.py).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# No `*_created` series: Prometheus does not use them and they double the series count.
disable_created_metrics()

# OpenTelemetry's recommended boundaries for http.server.request.duration.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# --- HTTP server -----------------------------------------------------------
HTTP_REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds", "Duration of HTTP server requests.",
    ["http_request_method", "http_route", "http_response_status_code"], buckets=HTTP_BUCKETS)
HTTP_ACTIVE_REQUESTS = Gauge(
    "http_server_active_requests", "HTTP server requests currently being handled.",
    ["http_request_method"], multiprocess_mode="livesum")
UNHANDLED_EXCEPTIONS = Counter(
    "app_unhandled_exceptions_total", "Exceptions that escaped a request handler, by class name.",
    ["exception_type"])
BUILD_INFO = Gauge(
    "app_build_info", "Always 1; labels carry the service name and version.",
    ["service", "version"], multiprocess_mode="max")

# --- database pool (created by db.instrument_engine: an app without a database shows none) ---
_db_pool = None


def db_pool_gauges() -> tuple[Gauge, Gauge]:
    """(in use, max) gauges of the database pool, registered on first use."""
    global _db_pool
    if _db_pool is None:
        _db_pool = (
            Gauge("db_pool_connections_in_use", "Database connections checked out of the pool.",
                  multiprocess_mode="livesum"),
            Gauge("db_pool_connections_max", "Connections the pool may open (size + overflow).",
                  multiprocess_mode="livesum"))
    return _db_pool
