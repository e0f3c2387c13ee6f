"""Runs a workflow: for each step, route -> cache -> breaker -> provider, all recorded.

Runs in a worker thread (see WorkflowRunner); every step leaves rows in the
database and samples in the business metrics.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from opentelemetry import trace
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import genai, metrics
from ..db.models import AgentRun, Asset, LLMCall, RouterDecision, Workflow, WorkflowOwner, utcnow
from ..store import StoreUnavailable
from .breaker import CircuitBreaker, CircuitOpen
from .catalog import MODELS, PROVIDERS
from .providers import ProviderError, complete
from .router import route

log = logging.getLogger("workflows")

# Agents whose output is a deliverable, and what kind of asset it is.
ASSET_TYPES = {"writer": "article", "coder": "code", "summarizer": "summary", "researcher": "research_brief"}
APPROVAL_RATE = 0.8  # share of reviewed assets the simulated reviewer approves
tracer = trace.get_tracer("app.workflows", schema_url=genai.SCHEMA_URL)


def fail_abandoned(sessions, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Mark workflows a dead process left pending or running as failed ("interrupted").

    Run at start-up. Runs take seconds, so anything still unfinished after ``older_than``
    belongs to no live worker, even when several workers start together.
    """
    cutoff = utcnow() - older_than
    with sessions.begin() as s:
        result = s.execute(update(Workflow)
                           .where(Workflow.status.in_(("pending", "running")), Workflow.created_at < cutoff)
                           .values(status="failed", error_type="interrupted", finished_at=utcnow()))
        return result.rowcount


def beat(sessions, owner: str) -> None:
    """Record that ``owner`` (this process) is alive."""
    now = utcnow()
    with sessions.begin() as s:
        if not s.execute(update(WorkflowOwner).where(WorkflowOwner.id == owner).values(heartbeat_at=now)
                         .execution_options(synchronize_session=False)).rowcount:
            s.add(WorkflowOwner(id=owner, pid=os.getpid(), heartbeat_at=now))


def fail_dead_owners(sessions, timeout_s: float) -> int:
    """Mark failed ("interrupted") the unfinished workflows of owners silent for ``timeout_s``: a worker
    killed with SIGKILL (or OOM) cannot close its own. Return how many."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    live = select(WorkflowOwner.id).where(WorkflowOwner.heartbeat_at >= cutoff)
    with sessions.begin() as s:
        count = s.execute(update(Workflow)
                          .where(Workflow.status.in_(("pending", "running")), Workflow.owner.is_not(None),
                                 Workflow.created_at < cutoff, Workflow.owner.not_in(live))
                          .values(status="failed", error_type="interrupted", finished_at=utcnow())
                          .execution_options(synchronize_session=False)).rowcount
        s.execute(delete(WorkflowOwner).where(WorkflowOwner.heartbeat_at < cutoff)
                  .execution_options(synchronize_session=False))
    return count


class Overloaded(Exception):
    """More workflows queued than the runner accepts."""


class OverShare(Exception):
    """One caller already holds its share of the queue."""


class WorkflowRunner:
    def __init__(self, sessions, cache, settings, max_workers: int = 8, max_pending: int = 200):
        # One caller (API key) may hold this many of the queue's places (queued or running), so that a
        # greedy caller meets 429 while the others still find room.
        self.caller_share = max(1, int(max_pending * settings.workflow_queue_share))
        self._per_caller: dict[str, int] = {}
        self._callers_lock = threading.Lock()
        self.sessions = sessions
        self.cache = cache  # the LLM response cache (never the security store)
        self.settings = settings
        self.breakers = {p: CircuitBreaker(p, settings.breaker_failure_threshold,
                                           settings.breaker_reset_seconds) for p in PROVIDERS}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="workflow")
        self._pending = threading.BoundedSemaphore(max_pending)
        self._queued: set[str] = set()  # accepted here, not started yet
        self._stopping = threading.Event()
        self.owner = uuid.uuid4().hex  # this process, in workflow_owners (one runner per worker process)

    def start_heartbeat(self, sessions=None) -> None:
        """Beat every timeout/5 seconds and fail the workflows of owners that stopped beating.

        ``sessions``: a small pool of its own, so a busy request pool cannot make a live worker look dead.
        A process sweeps only after ``timeout`` seconds of unbroken beats of its own: after a database
        outage every heartbeat is old, and the others must get the time to beat again first.
        """
        threading.Thread(target=self._heartbeat, args=(sessions or self.sessions,), name="workflow-heartbeat",
                         daemon=True).start()

    def _heartbeat(self, sessions) -> None:
        timeout = self.settings.workflow_owner_timeout_seconds
        interval = timeout / 5
        since = last = None  # start and time of this process's unbroken run of beats
        while True:
            now = time.monotonic()
            try:
                beat(sessions, self.owner)
                if since is None or now - last > 2 * interval:
                    if since is None and last is not None:
                        log.warning("workflow heartbeat back")
                    since = now
                last = now
                if now - since >= timeout and (count := fail_dead_owners(sessions, timeout)):
                    log.warning("workflows of a dead worker marked failed", extra={"count": count})
            except Exception as exc:  # one line per outage, not one per beat
                if since is not None or last is None:
                    log.error("workflow heartbeat failed", extra={"error": type(exc).__name__})
                since, last = None, last or now
            if self._stopping.wait(interval):
                return

    # -- API side ----------------------------------------------------------
    def create(self, name: str, tenant: str, text: str, steps: list[tuple[str, str | None]],
               project_id: int | None = None, user_id: int | None = None, caller: str = "") -> Workflow:
        wf = Workflow(id=str(uuid.uuid4()), name=name, tenant=tenant, status="pending", input=text,
                      project_id=project_id, user_id=user_id, owner=self.owner)
        with self._callers_lock:
            if self._per_caller.get(caller, 0) >= self.caller_share:
                raise OverShare()
            self._per_caller[caller] = self._per_caller.get(caller, 0) + 1
        if not self._pending.acquire(blocking=False):
            self._release_caller(caller)
            raise Overloaded()
        try:
            with self.sessions.begin() as s:
                s.add(wf)
            self._queued.add(wf.id)
            # The copied context carries the request id (logs) and the current span (traces).
            self._pool.submit(contextvars.copy_context().run, self._run_guarded, wf.id, steps, caller)
        except BaseException:
            self._pending.release()
            self._release_caller(caller)
            raise
        return wf

    def _release_caller(self, caller: str) -> None:
        with self._callers_lock:
            left = self._per_caller.pop(caller, 1) - 1
            if left:
                self._per_caller[caller] = left

    def shutdown(self, drain_seconds: float = 15.0) -> None:
        """Graceful stop: the queue keeps draining for ``drain_seconds``; then queued runs are cancelled and
        marked failed ("interrupted") while runs in progress finish (they take seconds).

        15 s + a run fits in gunicorn's graceful_timeout (25 s) and the prod stop_grace_period (30 s).
        """
        deadline = time.monotonic() + drain_seconds
        while self._queued and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        left = list(self._queued)
        for workflow_id in left:
            self._mark_failed(workflow_id, "interrupted", attempts=3)
        if left:
            log.warning("queued workflows marked failed at shutdown", extra={"count": len(left)})
        try:
            with self.sessions.begin() as s:
                s.execute(delete(WorkflowOwner).where(WorkflowOwner.id == self.owner))
        except Exception:
            pass  # the others' sweep removes the row after the timeout

    def _mark_failed(self, workflow_id: str, error_type: str, attempts: int = 8) -> bool:
        """Close a workflow that cannot finish. The database may be what failed, so retry with backoff
        (about 30 s in all); what still fails is closed by fail_abandoned at the next start."""
        for attempt in range(attempts):
            try:
                with self.sessions.begin() as s:
                    wf = s.get(Workflow, workflow_id)
                    if wf is not None and wf.status in ("pending", "running"):
                        wf.status, wf.error_type, wf.finished_at = "failed", error_type, utcnow()
                return True
            except Exception as exc:
                if attempt == attempts - 1:
                    log.error("could not mark workflow failed", extra={"workflow_id": workflow_id,
                                                                       "error": type(exc).__name__})
                    return False
                self._stopping.wait(min(2 ** attempt * 0.25, 8))
        return False

    # -- worker side -------------------------------------------------------
    def _run_guarded(self, workflow_id: str, steps, caller: str) -> None:
        self._queued.discard(workflow_id)
        try:
            self.run(workflow_id, steps)
        except Exception as exc:
            # One line, not a traceback per workflow: during an outage every run fails the same way.
            log.error("workflow run failed", extra={"workflow_id": workflow_id, "error": type(exc).__name__},
                      exc_info=not isinstance(exc, (OperationalError, PoolTimeout)))
            self._mark_failed(workflow_id, "internal_error")
        finally:
            self._pending.release()
            self._release_caller(caller)

    def run(self, workflow_id: str, steps) -> None:
        start = time.perf_counter()
        metrics.WORKFLOWS_ACTIVE.inc()
        try:
            with tracer.start_as_current_span("workflow.run", attributes={"workflow.id": workflow_id}):
                with self.sessions.begin() as s:
                    wf = s.get(Workflow, workflow_id)
                    wf.status, wf.started_at = "running", utcnow()
                    tenant, text = wf.tenant, wf.input
                history: list[str] = []
                totals = {"in": 0, "out": 0, "cost": 0.0}
                error_type = failed_agent = None
                for index, (agent, model) in enumerate(steps):
                    ok, output, err = self._step(workflow_id, tenant, index, agent, model, text, history, totals)
                    if not ok:
                        error_type, failed_agent = err, agent
                        break
                    history.append(output)
                status = "failed" if error_type else "completed"
                elapsed = time.perf_counter() - start
                with self.sessions.begin() as s:
                    wf = s.get(Workflow, workflow_id)
                    if wf.status != "running":  # a sweep took this process for dead and closed it: keep that
                        status, error_type = wf.status, wf.error_type
                    else:
                        wf.status, wf.error_type, wf.finished_at = status, error_type, utcnow()
                        wf.duration_ms = round(elapsed * 1000, 3)
                        wf.input_tokens, wf.output_tokens, wf.cost_usd = totals["in"], totals["out"], totals["cost"]
                        if status == "completed":
                            s.add_all(self._assets(wf, steps))
        finally:
            metrics.WORKFLOWS_ACTIVE.dec()
        metrics.WORKFLOW_RUNS.labels(tenant=tenant, status=status).inc()
        metrics.WORKFLOW_DURATION.labels(status=status).observe(elapsed)
        log.log(logging.ERROR if error_type else logging.INFO, "workflow %s", status,
                extra={"workflow_id": workflow_id, "tenant": tenant, "status": status, "error_type": error_type,
                       "agent": failed_agent, "duration_ms": round(elapsed * 1000, 1)})

    @staticmethod
    def _assets(wf: Workflow, steps) -> list[Asset]:
        """One asset per deliverable step; a later reviewer step approves or rejects it."""
        agents = [agent for agent, _ in steps]
        assets = []
        for i, agent in enumerate(agents):
            if agent not in ASSET_TYPES:
                continue
            reviewed = "reviewer" in agents[i + 1:]
            approved = reviewed and random.random() < APPROVAL_RATE
            assets.append(Asset(workflow_id=wf.id, project_id=wf.project_id, asset_type=ASSET_TYPES[agent],
                                tokens=wf.output_tokens // max(len(agents), 1),
                                review_status=("approved" if approved else "rejected") if reviewed else None,
                                review_score=round(random.uniform(3.5, 5.0) if approved else
                                                   random.uniform(1.0, 3.5), 2) if reviewed else None))
        return assets

    def _step(self, workflow_id, tenant, index, agent, model, text, history, totals):
        step_start = time.perf_counter()
        prompt = f"{agent}: {text}"
        t0 = time.perf_counter()
        decision = route(agent, prompt, history, model)
        route_s = time.perf_counter() - t0
        metrics.ROUTER_DURATION.labels(decision.intent).observe(route_s)
        metrics.ROUTER_DECISIONS.labels(decision.intent, decision.model, decision.risk_level).inc()
        metrics.ROUTER_CONTEXT_TOKENS.labels("before", decision.intent).inc(decision.context_tokens_before)
        metrics.ROUTER_CONTEXT_TOKENS.labels("after", decision.intent).inc(decision.context_tokens_after)
        model = MODELS[decision.model]
        call = self._call(agent, model, prompt, decision.context_tokens_after, tenant, decision.intent,
                          workflow_id)
        status = "completed" if call["status"] == "success" else "failed"
        step_s = time.perf_counter() - step_start
        with self.sessions.begin() as s:
            s.add(RouterDecision(workflow_id=workflow_id, tenant=tenant, agent=agent, intent=decision.intent,
                                 model=model.name, risk_level=decision.risk_level,
                                 context_tokens_before=decision.context_tokens_before,
                                 context_tokens_after=decision.context_tokens_after,
                                 latency_ms=round(route_s * 1000, 3)))
            run = AgentRun(workflow_id=workflow_id, step_index=index, agent=agent, provider=model.provider,
                           model=model.name, tenant=tenant, status=status, finished_at=utcnow(),
                           latency_ms=round(step_s * 1000, 3), input_tokens=call["input_tokens"],
                           output_tokens=call["output_tokens"], cost_usd=call["cost_usd"],
                           error_type=call["error_type"], output=call["text"])
            s.add(run)
            s.flush()
            s.add(LLMCall(workflow_id=workflow_id, agent_run_id=run.id, tenant=tenant, agent=agent,
                          provider=model.provider, model=model.name, status=call["status"],
                          cache_hit=call["cache_hit"], latency_ms=round(call["latency_s"] * 1000, 3),
                          input_tokens=call["input_tokens"], output_tokens=call["output_tokens"],
                          cost_usd=call["cost_usd"], error_type=call["error_type"]))
        metrics.AGENT_EXECUTIONS.labels(agent=agent, tenant=tenant, status=status).inc()
        metrics.AGENT_DURATION.labels(agent=agent).observe(step_s)
        totals["in"] += call["input_tokens"]
        totals["out"] += call["output_tokens"]
        totals["cost"] += call["cost_usd"]
        return status == "completed", call["text"], call["error_type"]

    def _call(self, agent, model, prompt, input_tokens, tenant, intent, workflow_id=None) -> dict:
        """One LLM call through cache and breaker; returns what was recorded."""
        provider = model.provider
        result = {"status": "success", "cache_hit": False, "latency_s": 0.0, "input_tokens": 0,
                  "output_tokens": 0, "cost_usd": 0.0, "error_type": None, "text": None}
        key = "llmcache:" + hashlib.sha256(f"{model.name}\n{prompt}".encode()).hexdigest()
        # GenAI semantic conventions (app/genai.py pins the version): "chat <model>", no deprecated gen_ai.system.
        with tracer.start_as_current_span(genai.span_name(genai.OPERATION_CHAT, model.name), kind=trace.SpanKind.CLIENT,
                                          attributes={"gen_ai.operation.name": genai.OPERATION_CHAT,
                                                      "gen_ai.provider.name": genai.provider_name(provider),
                                                      "gen_ai.request.model": model.name}) as span:
            t0 = time.perf_counter()
            try:
                cached = self.cache.get(key)
            except StoreUnavailable:  # a cache that does not answer is a miss
                cached = None
            if cached is not None:
                metrics.LLM_CACHE_LOOKUPS.labels(provider, "hit").inc()
                result.update(cache_hit=True, text=json.loads(cached)["text"])
            else:
                metrics.LLM_CACHE_LOOKUPS.labels(provider, "miss").inc()
                try:
                    self.breakers[provider].before_call()
                    done = complete(model.name, agent, prompt, input_tokens,
                                    self.settings.llm_failure_rate, self.settings.llm_latency_scale)
                except CircuitOpen:
                    result.update(status="error", error_type="circuit_open")
                except ProviderError as exc:
                    self.breakers[provider].record_failure()
                    result.update(status="error", error_type=exc.error_type)
                else:
                    self.breakers[provider].record_success()
                    result.update(text=done.text, input_tokens=done.input_tokens,
                                  output_tokens=done.output_tokens, cost_usd=done.cost_usd)
                    try:
                        self.cache.set(key, json.dumps({"text": done.text}), self.settings.llm_cache_ttl_seconds)
                    except StoreUnavailable:
                        pass
            result["latency_s"] = time.perf_counter() - t0
            if result["error_type"] is None:
                span.set_attribute("gen_ai.response.model", model.name)
            span.set_attribute("gen_ai.usage.input_tokens", result["input_tokens"])
            span.set_attribute("gen_ai.usage.output_tokens", result["output_tokens"])
            span.set_attribute("llm.cost_usd", result["cost_usd"])
            span.set_attribute("llm.cache_hit", result["cache_hit"])
            if result["error_type"]:
                span.set_attribute("error.type", result["error_type"])
                span.set_status(trace.StatusCode.ERROR, result["error_type"])
        metrics.LLM_REQUESTS.labels(provider, model.name, agent, tenant, result["status"]).inc()
        metrics.LLM_OPERATION_DURATION.labels(genai.OPERATION_CHAT, genai.provider_name(provider), model.name,
                                              result["error_type"] or "", intent).observe(result["latency_s"])
        if result["error_type"]:
            metrics.LLM_ERRORS.labels(provider, model.name, result["error_type"]).inc()
            log.error("LLM call failed", extra={"provider": provider, "model": model.name, "agent": agent,
                                                "tenant": tenant, "workflow_id": workflow_id,
                                                "error_type": result["error_type"]})
        else:
            for token_type in ("input", "output"):
                metrics.LLM_TOKEN_USAGE.labels(genai.OPERATION_CHAT, genai.provider_name(provider), model.name,
                                               token_type).observe(result[f"{token_type}_tokens"])
            metrics.LLM_COST.labels(provider, model.name, agent, tenant).inc(result["cost_usd"])
        return result
