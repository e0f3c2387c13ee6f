"""Render /metrics COUNT times with RENDERER (vigil | prometheus_client); run by bench/callgrind.py.

    python bench/render.py vigil 5 [TENANTS]     (or: python bench/render.py lines 0 TENANTS)

The registry holds the reference backend's generic and business metrics with label sets
like those a demo load creates, filled deterministically: with the default 4 tenants about
1,800 sample lines; the page grows with TENANTS (1: ~0.7 k lines, 24: ~10 k). ``lines`` prints
how many lines the page has and renders nothing.
"""
import itertools
import sys

from prometheus_client import REGISTRY, generate_latest

from app import genai, metrics as app_metrics  # the backend folder is on PYTHONPATH (bench/callgrind.py)
from app.domain.catalog import AGENTS, MODELS
from observability import metrics
from observability.exposition import render_text

TENANTS = ("default", "acme", "globex", "initech")
INTENTS = sorted({agent.intent for agent in AGENTS.values()})
ROUTES = ("/api/workflows", "/api/workflows/{workflow_id}", "/api/stats/real-time", "/api/stats/cost-summary",
          "/api/models", "/api/admin/faults", "/health", "unmatched")


def fill(tenants: int = len(TENANTS)) -> None:
    names = TENANTS[:tenants] + tuple(f"tenant-{i}" for i in range(len(TENANTS), tenants))
    for i, (route, status) in enumerate(itertools.product(ROUTES, ("200", "404"))):
        metrics.HTTP_REQUEST_DURATION.labels("GET", route, status).observe(0.001 * i)
    metrics.HTTP_REQUEST_DURATION.labels("POST", "/api/workflows", "202").observe(0.01)
    metrics.HTTP_ACTIVE_REQUESTS.labels("GET").set(1)
    metrics.BUILD_INFO.labels("vigil-backend", "1.0.0").set(1)
    in_use, capacity = metrics.db_pool_gauges()
    in_use.set(2)
    capacity.set(15)
    for i, (model, agent, tenant) in enumerate(itertools.product(MODELS.values(), AGENTS, names)):
        app_metrics.LLM_REQUESTS.labels(model.provider, model.name, agent, tenant, "ok").inc()
        app_metrics.LLM_COST.labels(model.provider, model.name, agent, tenant).inc(0.001 * i)
    for model, intent in itertools.product(MODELS.values(), INTENTS):
        app_metrics.LLM_OPERATION_DURATION.labels("chat", genai.provider_name(model.provider), model.name, "",
                                                  intent).observe(0.7)
    for model in MODELS.values():
        app_metrics.LLM_TOKEN_USAGE.labels("chat", genai.provider_name(model.provider), model.name,
                                           "input").observe(100)
        app_metrics.LLM_TOKEN_USAGE.labels("chat", genai.provider_name(model.provider), model.name,
                                           "output").observe(50)
    for agent, tenant in itertools.product(AGENTS, names):
        app_metrics.AGENT_EXECUTIONS.labels(agent, tenant, "ok").inc()
        app_metrics.AGENT_DURATION.labels(agent).observe(1.5)
    for tenant in names:
        app_metrics.WORKFLOW_RUNS.labels(tenant, "completed").inc()
    app_metrics.WORKFLOW_DURATION.labels("completed").observe(9.0)
    for intent in INTENTS:
        app_metrics.ROUTER_DURATION.labels(intent).observe(0.002)


if __name__ == "__main__":
    renderer, count = sys.argv[1], int(sys.argv[2])
    fill(int(sys.argv[3]) if len(sys.argv) > 3 else len(TENANTS))
    if renderer == "lines":
        print(len(render_text(REGISTRY).splitlines()))
        sys.exit()
    render = (lambda: render_text(REGISTRY)) if renderer == "vigil" else (lambda: generate_latest(REGISTRY))
    def stable(body: bytes) -> list[bytes]:  # CPU time and GC counts move between two renders
        return [line for line in body.splitlines() if not line.startswith((b"process_", b"python_gc_"))]
    if stable(render_text(REGISTRY)) != stable(generate_latest(REGISTRY)):
        sys.exit("render_text and generate_latest disagree")
    for _ in range(count):
        render()
