"""Read and validate vigil.toml: the services Prometheus watches, their SLOs, the alert thresholds.

``load()`` returns a frozen ``Config``; every mistake raises ``ConfigError`` whose text is one sentence
naming the file and line ("vigil.toml line 14: ..."). The renderers take the Config and nothing else.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATH = REPO / "vigil.toml"

SCRAPE_KINDS = ("compose", "static", "otlp")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")          # a job label value, a DNS name, a file name
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")  # Prometheus' duration syntax
TARGET = re.compile(r"^[A-Za-z0-9_.-]+:[0-9]{1,5}$")    # host:port
MIN_OBJECTIVE = 0.95                                     # an SLO objective (share of good requests)

# The thresholds an alert compares against, with the unit a reader needs. An unknown key in
# [thresholds] is an error; a missing one takes this default.
THRESHOLDS: dict[str, float] = {
    # generic HTTP service alerts
    "http_5xx_ratio_max": 0.01,
    "http_latency_p95_max_seconds": 2.5,
    "requests_in_flight_max": 32,
    # host and databases
    "host_cpu_busy_ratio_max": 0.8,
    "host_memory_available_ratio_min": 0.1,
    "host_disk_free_ratio_min": 0.2,
    "postgres_connections_ratio_max": 0.8,
    # the reference backend (examples of business alerts)
    "workflow_failure_ratio_max": 0.2,
    "rate_limit_rejections_max_per_second": 1,
    "routing_latency_p95_max_seconds": 2,
    "llm_daily_budget_usd": 100,
    "llm_error_ratio_max": 0.1,
    "llm_parse_error_ratio_max": 0.02,
    "llm_cache_hit_ratio_min": 0.3,
    "router_tokens_saved_ratio_min": 0.4,
    "auth_failures_max_per_second": 0.2,
    "security_events_max_per_second": 0.2,
}


class ConfigError(ValueError):
    """One sentence naming the file and line of the mistake."""


@dataclass(frozen=True)
class SLO:
    availability: float        # share of requests not answered 5xx over `period`, e.g. 0.999
    latency_threshold: float   # seconds: a bucket boundary of http_server_request_duration_seconds
    latency_objective: float   # share of requests faster than latency_threshold, e.g. 0.99
    period: str = "30d"        # the window the error budget is counted over

    @property
    def period_days(self) -> int:
        return _days(self.period)


@dataclass(frozen=True)
class Service:
    name: str                           # Prometheus job label = `service` label on alerts = dashboard variable
    scrape: str                         # compose | static | otlp
    slo: SLO
    port: int | None = None             # compose: the container port serving metrics_path
    compose_service: str | None = None  # compose: the service name in docker-compose.yml (default: name)
    targets: tuple[str, ...] = ()       # static: host:port of each instance
    metrics_path: str = "/metrics"
    scrape_interval: str | None = None  # None: the global interval


@dataclass(frozen=True)
class Config:
    services: tuple[Service, ...]
    thresholds: dict[str, float] = field(default_factory=dict)
    path: Path = DEFAULT_PATH

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


# --- loading ---------------------------------------------------------------------------------------

_SERVICE_KEYS = {"name", "scrape", "port", "compose_service", "targets", "metrics_path", "scrape_interval", "slo"}
_SLO_KEYS = {"availability", "latency_threshold", "latency_objective", "period"}
_TOP_KEYS = {"service", "thresholds"}


def load(path: Path | str = DEFAULT_PATH) -> Config:
    path = Path(path)
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:   # its message ends "(at line N, column M)"
        raise ConfigError(f"{path.name}: {exc}") from None
    lines = text.splitlines()
    where = _Locator(path.name, lines)

    _unknown(data, _TOP_KEYS, where, "the top level", 0)
    raw_services = data.get("service", [])
    if not isinstance(raw_services, list) or not raw_services:
        raise ConfigError(f"{path.name}: no [[service]] block: name at least one service to monitor.")
    services, seen = [], {}
    starts = [i for i, line in enumerate(lines) if line.strip() == "[[service]]"]
    for index, raw in enumerate(raw_services):
        start = starts[index] if index < len(starts) else 0
        service = _service(raw, where, start)
        if service.name in seen:
            raise ConfigError(f"{where.at('name', start, service.name)}: service name {service.name!r} is used twice "
                              f"(first at line {seen[service.name]}); each service needs its own name.")
        seen[service.name] = where.line_of("name", start)
        services.append(service)

    thresholds = dict(THRESHOLDS)
    raw_thresholds = data.get("thresholds", {})
    start = next((i for i, line in enumerate(lines) if line.strip() == "[thresholds]"), 0)
    _unknown(raw_thresholds, set(THRESHOLDS), where, "[thresholds]", start)
    for key, value in raw_thresholds.items():
        thresholds[key] = _number(value, key, where, start, minimum=0)
    return Config(services=tuple(services), thresholds=thresholds, path=path)


def _service(raw: dict, where: "_Locator", start: int) -> Service:
    _unknown(raw, _SERVICE_KEYS, where, "[[service]]", start)
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where.at('name', start)}: service name {name!r} must be lower-case letters, digits, "
                          f"'-' or '_', starting with a letter (it becomes the Prometheus job label).")
    scrape = raw.get("scrape")
    if scrape not in SCRAPE_KINDS:
        raise ConfigError(f"{where.at('scrape', start)}: service {name!r}: scrape = {scrape!r} must be one of "
                          f"{', '.join(SCRAPE_KINDS)}.")
    port = raw.get("port")
    targets = raw.get("targets", [])
    if scrape == "compose" and (not isinstance(port, int) or not 0 < port < 65536):
        raise ConfigError(f"{where.at('port', start)}: service {name!r} is scraped through Compose and needs "
                          f"port = the container port of its metrics (1-65535), not {port!r}.")
    if scrape == "static" and (not isinstance(targets, list) or not targets
                               or not all(isinstance(t, str) and TARGET.match(t) for t in targets)):
        raise ConfigError(f"{where.at('targets', start)}: service {name!r} is scraped at fixed addresses and needs "
                          f"targets = [\"host:port\", ...], not {targets!r}.")
    if scrape != "static" and "targets" in raw:
        raise ConfigError(f"{where.at('targets', start)}: service {name!r}: targets belong to scrape = \"static\".")
    if scrape == "otlp" and ("port" in raw or "compose_service" in raw):
        raise ConfigError(f"{where.at('port', start)}: service {name!r} pushes OTLP and is not scraped: "
                          f"remove port and compose_service.")
    interval = raw.get("scrape_interval")
    if interval is not None and (not isinstance(interval, str) or not DURATION.match(interval)):
        raise ConfigError(f"{where.at('scrape_interval', start)}: service {name!r}: scrape_interval = {interval!r} "
                          f"is not a duration such as \"15s\".")
    path = raw.get("metrics_path", "/metrics")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where.at('metrics_path', start)}: service {name!r}: metrics_path must start with '/'.")
    compose_service = raw.get("compose_service")
    if compose_service is not None and (scrape != "compose" or not isinstance(compose_service, str)
                                        or not NAME.match(compose_service)):
        raise ConfigError(f"{where.at('compose_service', start)}: service {name!r}: compose_service must name a "
                          f"Compose service (and goes with scrape = \"compose\").")
    return Service(name=name, scrape=scrape, slo=_slo(raw.get("slo"), name, where, start),
                   port=port if scrape == "compose" else None,
                   compose_service=(compose_service or name) if scrape == "compose" else None,
                   targets=tuple(targets), metrics_path=path, scrape_interval=interval)


def _slo(raw, name: str, where: "_Locator", start: int) -> SLO:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where.path} line {start + 1}: service {name!r} has no [service.slo] table "
                          f"(availability, latency_threshold, latency_objective).")
    slo_start = where.line_index("[service.slo]", start)
    _unknown(raw, _SLO_KEYS, where, "[service.slo]", slo_start)
    for key in ("availability", "latency_threshold", "latency_objective"):
        if key not in raw:
            raise ConfigError(f"{where.path} line {slo_start + 1}: service {name!r}: [service.slo] needs {key}.")
    availability = _objective(raw["availability"], "availability", where, slo_start)
    latency_objective = _objective(raw["latency_objective"], "latency_objective", where, slo_start)
    threshold = _number(raw["latency_threshold"], "latency_threshold", where, slo_start, minimum=0)
    if threshold <= 0:
        raise ConfigError(f"{where.at('latency_threshold', slo_start)}: latency_threshold must be above 0 seconds.")
    period = raw.get("period", "30d")
    if not isinstance(period, str) or not re.fullmatch(r"[0-9]+d", period) or not 1 <= _days(period) <= 90:
        raise ConfigError(f"{where.at('period', slo_start)}: period = {period!r} must be whole days from \"1d\" "
                          f"to \"90d\" (Prometheus keeps 30 days by default).")
    return SLO(availability=availability, latency_threshold=threshold, latency_objective=latency_objective,
               period=period)


def _objective(value, key: str, where: "_Locator", start: int) -> float:
    number = _number(value, key, where, start, minimum=0)
    # The page fires at 14.4 times the budget rate: below 0.95 it could hardly (below 0.93, never) be reached.
    if not MIN_OBJECTIVE <= number < 1:
        raise ConfigError(f"{where.at(key, start)}: {key} = {value!r} must be a share from {MIN_OBJECTIVE} to below 1, "
                          f"such as 0.999 for 99.9 % (1 would leave no error budget; under {MIN_OBJECTIVE} the "
                          f"burn-rate page, at 14.4 times the budget, could not fire).")
    return number


def _number(value, key: str, where: "_Locator", start: int, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{where.at(key, start)}: {key} = {value!r} must be a number of at least {minimum}.")
    return value


def _unknown(table: dict, known: set[str], where: "_Locator", what: str, start: int) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where.at(key, start)}: unknown key {key!r} in {what} "
                              f"(known: {', '.join(sorted(known))}).")


def _days(period: str) -> int:
    return int(period[:-1])


class _Locator:
    """Finds the line a key stands on, searching forward from a block's first line."""

    def __init__(self, path: str, lines: list[str]):
        self.path, self.lines = path, lines

    def line_index(self, header: str, start: int) -> int:
        return next((i for i in range(start, len(self.lines)) if self.lines[i].strip() == header), start)

    def line_of(self, key: str, start: int, value=None) -> int:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=" + (rf"\s*\"{re.escape(value)}\"" if value else ""))
        for i in range(start, len(self.lines)):
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1

    def at(self, key: str, start: int, value=None) -> str:
        return f"{self.path} line {self.line_of(key, start, value)}"
