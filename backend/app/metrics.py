"""The reference backend's business metrics: workflows, agents, LLM calls, routing,
circuit breakers and security. The generic HTTP metrics come from the observability
package (backend/observability/metrics.py); ``docs/metrics.md`` documents both.

Label values are always drawn from bounded sets chosen by the code, never from raw
client input. ``multiprocess_mode`` only matters when PROMETHEUS_MULTIPROC_DIR is set.
"""
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from . import genai

# No `*_created` series (the observability package does the same for its own metrics).
disable_created_metrics()

# Agent steps and workflows take seconds, not milliseconds. 0.3/0.8/1.5/3 s and 300 s are the
# boundaries the design documents alert on (docs/seeds.md). LLM calls use the GenAI conventions' buckets (genai.py).
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# --- workflows and agents --------------------------------------------------
WORKFLOW_RUNS = Counter(
    "workflow_runs_total", "Finished workflow runs.", ["tenant", "status"])
WORKFLOW_DURATION = Histogram(
    "workflow_duration_seconds", "Wall time of a workflow run, start to finish.",
    ["status"], buckets=SLOW_BUCKETS)
WORKFLOWS_ACTIVE = Gauge(
    "workflows_active", "Workflow runs currently executing.", multiprocess_mode="livesum")
AGENT_EXECUTIONS = Counter(
    "agent_executions_total", "Agent step executions.", ["agent", "tenant", "status"])
AGENT_DURATION = Histogram(
    "agent_execution_duration_seconds", "Wall time of one agent step.", ["agent"],
    buckets=SLOW_BUCKETS)

# --- LLM calls -------------------------------------------------------------
LLM_REQUESTS = Counter(
    "llm_requests_total", "Calls to an LLM provider (cache hits included; Vigil extension).",
    ["provider", "model", "agent", "tenant", "status"])
# GenAI semantic conventions (version pinned in app/genai.py): gen_ai.client.token.usage and
# gen_ai.client.operation.duration as Prometheus names them after OTLP translation, with the conventions'
# attributes as labels and their advised bucket boundaries. gen_ai_provider_name carries the well-known
# values (gcp.gemini, openai, anthropic) from genai.provider_name(); the Vigil extensions below (requests,
# cost, cache, errors) and the circuit breakers keep `provider` = the app's own provider name (google, ...).
LLM_TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage", "Number of input and output tokens used (gen_ai.client.token.usage).",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
    buckets=genai.TOKEN_USAGE_BUCKETS)
LLM_COST = Counter(
    "llm_cost_usd_total", "Money spent on LLM calls, in US dollars (Vigil extension: no cost in the GenAI "
    "conventions).",
    ["provider", "model", "agent", "tenant"])
# error_type is "" on success (the conventions set error.type only on failure; prometheus_client needs every
# label, and an empty label is no label in PromQL). intent is a Vigil extension label kept for the
# "LLM latency p95 by intent" panel (seed 001's latency by intent).
LLM_OPERATION_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds", "GenAI operation duration (gen_ai.client.operation.duration).",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type", "intent"],
    buckets=genai.OPERATION_DURATION_BUCKETS)
LLM_CACHE_LOOKUPS = Counter(
    "llm_cache_lookups_total", "Response-cache lookups before an LLM call.", ["provider", "result"])
LLM_ERRORS = Counter(
    "llm_errors_total", "Failed LLM calls by error type (timeout, rate_limited, server_error, "
    "parse_error, circuit_open).", ["provider", "model", "error_type"])

# --- router ----------------------------------------------------------------
ROUTER_DECISIONS = Counter(
    "router_decisions_total", "Routing decisions made before an LLM call.",
    ["intent", "model", "risk_level"])
ROUTER_CONTEXT_TOKENS = Counter(
    "router_context_tokens_total", "Context tokens before and after minimisation.", ["stage", "intent"])
# intent: one of the router's six classes (app/domain/router.py), never client text.
ROUTER_DURATION = Histogram(
    "router_decision_duration_seconds", "Time spent classifying and routing one call.", ["intent"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0))

# --- circuit breakers ------------------------------------------------------
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
BREAKER_STATE = Gauge(
    "circuit_breaker_state", "Provider circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["provider"], multiprocess_mode="livemax")  # a dead worker's breaker is dropped (gunicorn child_exit)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions_total", "Circuit breaker state changes.",
    ["provider", "from_state", "to_state"])

# --- security --------------------------------------------------------------
RATE_LIMIT_REJECTIONS = Counter(
    "rate_limit_rejections_total", "Requests refused with 429 (rate limit, or an API key over its queue share).",
    ["http_route"])
AUTH_FAILURES = Counter(
    "auth_failures_total", "Requests refused with 401 (missing or invalid API key).", ["reason"])
SECURITY_EVENTS = Counter(
    "security_events_total", "Suspicious requests by type (path_traversal, sql_injection, "
    "rate_limit_abuse, auth_abuse).", ["event_type"])
SECURITY_BLOCKS = Counter(
    "security_blocks_total", "Times a client was put on the block list.")
SECURITY_BLOCKED_REQUESTS = Counter(
    "security_blocked_requests_total", "Requests refused with 403 because the client is blocked.")


def set_breaker_state(provider: str, old: str, new: str) -> None:
    """Record a breaker transition; call it from the breaker's state setter."""
    BREAKER_STATE.labels(provider=provider).set(BREAKER_STATES[new])
    BREAKER_TRANSITIONS.labels(provider=provider, from_state=old, to_state=new).inc()
