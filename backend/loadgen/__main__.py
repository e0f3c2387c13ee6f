"""Send mixed traffic to the backend so every dashboard has data.

    python -m loadgen --base-url http://127.0.0.1:8000 --duration 60 --rps 4

The mix: workflows across providers and tenants (inputs drawn from a small pool
so the response cache gets hits), stats reads, workflow look-ups, 404s, a few
malformed requests, and two scheduled episodes so every dashboard panel has data
within three minutes of `make up`:

- faults (--no-faults turns them off): 10 s after the start (or sooner), then every
  --fault-every seconds, one provider in turn fails every call for 25 s (its
  breaker opens, then closes once the provider answers again; one /api answer in
  ten is 503; the generator sends that provider calls with new inputs, which the
  response cache cannot answer, until its breaker has closed), alternating with a
  burst of slow calls (and a few 503s);
- abuse (--no-abuse turns it off): 20 s after the start (or sooner), then every --abuse-every
  seconds, calls with no and with a wrong API key, two probes, and a burst over
  the rate limit until the backend blocks this client (403). The burst starts at
  second --abuse-at-second of the wall-clock minute, so the limiter's one-minute
  window ends soon after and the generator's own traffic flows again once the
  block (BLOCK_SECONDS) is over.

The API key (write endpoints, fault injection) is --api-key, else the first key of
API_KEYS. --duration 0 runs until interrupted; every request has a timeout and the
request rate is capped (the abuse burst excepted: it stops at the first 429).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("loadgen")

TENANTS = ("acme", "globex", "initech", "default", "unknown-co")
INPUTS = ("summarise this quarter's support tickets", "draft a release note for version 2",
          "plan the migration of the billing database", "review the refund policy wording",
          "research competitors' pricing pages", "write unit tests for the parser module",
          "translate the onboarding email", "outline a blog post about observability",
          "check this contract clause for risks", "explain the payment retry logic")
STEP_SETS = (
    None,  # the default pipeline, the router picks the models
    [{"agent": "coder", "model": "gpt-4.1"}, {"agent": "reviewer", "model": "gpt-4o-mini"}],
    [{"agent": "researcher", "model": "gemini-2.5-pro"}, {"agent": "summarizer", "model": "gemini-2.5-flash"}],
    [{"agent": "writer", "model": "claude-sonnet-4-5"}, {"agent": "reviewer", "model": "claude-haiku-4-5"}],
    [{"agent": "planner"}, {"agent": "writer"}],
)


class Client:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 10.0):
        self.base = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None,
             send_key: bool = True):
        hdrs = {"content-type": "application/json", **(headers or {})}
        if self.api_key and send_key:
            hdrs["x-api-key"] = self.api_key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        except (urllib.error.URLError, OSError):
            status, payload = 0, b""
        with self._lock:
            key = f"{status // 100}xx" if status else "conn_error"
            self.counts[key] = self.counts.get(key, 0) + 1
        return status, payload


def one_action(client: Client, rng: random.Random, recent: list[str], projects: list[int]) -> None:
    r = rng.random()
    tenant = rng.choice(TENANTS)
    if r < 0.45:
        body = {"name": rng.choice(("report", "triage", "release", "research")), "input": rng.choice(INPUTS)}
        if projects and rng.random() < 0.8:
            body["project_id"] = rng.choice(projects)
        steps = rng.choice(STEP_SETS)
        if steps:
            body["steps"] = steps
        status, payload = client.call("POST", "/api/workflows", body, {"x-tenant-id": tenant})
        if status == 202:
            recent.append(json.loads(payload)["id"])
            del recent[:-50]
    elif r < 0.65 and recent:
        client.call("GET", f"/api/workflows/{rng.choice(recent)}")
    elif r < 0.78:
        client.call("GET", "/api/stats/real-time")
    elif r < 0.88:
        client.call("GET", f"/api/stats/cost-summary?period_hours={rng.choice((1, 24, 168, 720))}")
    elif r < 0.93:
        client.call("GET", f"/api/workflows/{uuid.uuid4()}")          # 404: unknown workflow
    elif r < 0.96:
        client.call("GET", f"/no-such-page/{rng.randrange(10**6)}")  # 404: unmatched route
    elif r < 0.98:
        client.call("POST", "/api/workflows", raw=b"{not json")         # 422: malformed body
    else:
        client.call("GET", "/api/models")


PROVIDERS = ("google", "openai", "anthropic")
OUTAGE_SECONDS = 25
# One model of each provider, for the calls that make an outage visible (the router may pick any model).
PROVIDER_MODEL = {"google": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
CALLS_TO_OPEN = 8    # > breaker_failure_threshold (5), with room for the outage's injected 503s
CLOSE_WINDOW = 45    # seconds after an outage to keep calling its provider: > breaker_reset_seconds (30)


def provider_calls(client: Client, provider: str, count: int) -> None:
    """Workflows whose one step calls ``provider`` with a new input: a cache miss, so the provider is called.

    The pool's inputs are soon all cached, and a cache hit never reaches a provider or its breaker.
    """
    for _ in range(count):
        client.call("POST", "/api/workflows", {"name": "triage", "input": f"new ticket {uuid.uuid4().hex[:8]}",
                                               "steps": [{"agent": "reviewer", "model": PROVIDER_MODEL[provider]}]})


def fault_bursts(client: Client, stop: threading.Event, first: float, every: float) -> None:
    """Provider outages (a breaker opens and closes again) alternating with slow calls."""
    n, next_at = 0, time.monotonic() + first
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        provider = PROVIDERS[(n // 2) % len(PROVIDERS)]
        outage = n % 2 == 0
        if outage:   # more than breaker_failure_threshold failures in a row
            body = {"providers": {provider: {"failure_rate": 1.0}}, "http_error_rate": 0.1}
        else:
            body = {"providers": {provider: {"failure_rate": 0.3, "extra_latency_ms": 1500}}, "http_error_rate": 0.02}
        status, _ = client.call("PUT", "/api/admin/faults", {**body, "duration_seconds": OUTAGE_SECONDS})
        log.info("fault burst: %s (HTTP %s)", body, status)
        if outage:
            provider_calls(client, provider, CALLS_TO_OPEN)   # they fail: the breaker opens
            # Once the provider answers again, call it until its breaker has half-opened and closed,
            # even if the demo's own traffic to it is all cache hits.
            until = min(time.monotonic() + OUTAGE_SECONDS + CLOSE_WINDOW, next_at + every)
            if not stop.wait(OUTAGE_SECONDS):
                while time.monotonic() < until and not stop.wait(5):
                    provider_calls(client, provider, 1)
        n, next_at = n + 1, next_at + every


def abuse_episode(client: Client, stop: threading.Event, at_second: float, max_burst: int = 5000) -> dict:
    """What an attacker or a misconfigured client does; returns the statuses it got."""
    statuses: dict[int, int] = {}

    def note(status: int) -> int:
        statuses[status] = statuses.get(status, 0) + 1
        return status

    def refused(**how) -> None:
        """Two 401s: a call can meet an injected 503 (the fault bursts) or a timeout first, so try a few times."""
        got = 0
        for _ in range(6):
            if note(client.call("POST", "/api/workflows", body, send_key=False, **how)[0]) == 401:
                got += 1
                if got == 2:
                    return

    body = {"name": "abuse", "input": "x"}
    refused()                                    # 401: no key (auth_failures_total{reason="missing"})
    refused(headers={"x-api-key": "wrong-key"})  # 401: a wrong key (reason="invalid")
    note(client.call("GET", "/api/workflows/..%2f..%2fetc%2fpasswd")[0])                            # probe
    note(client.call("GET", "/api/stats/cost-summary?q=%27%20or%201%3D1")[0])                       # probe
    if at_second >= 0:   # near the end of the limiter's window, so it resets soon after the burst
        stop.wait((at_second - time.time() % 60) % 60)
    limited = threading.Event()

    def hammer():
        for _ in range(max_burst // 8):
            if limited.is_set() or stop.is_set():
                return
            if note(client.call("GET", "/api/models")[0]) in (403, 429):
                limited.set()

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(hammer)
    for _ in range(3):   # blocked by now (the 429s were security events): 403
        note(client.call("GET", "/api/models")[0])
    return statuses


def abuse_cycle(client: Client, stop: threading.Event, first: float, every: float, at_second: float) -> None:
    wait = first
    while not stop.wait(wait):
        log.info("abuse episode: %s", abuse_episode(client, stop, at_second))
        wait = every


def run(base_url: str, duration: float, rps: float, concurrency: int, faults: bool,
        fault_every: float, api_key: str | None, seed: int | None, abuse: bool = True,
        abuse_every: float = 300.0, abuse_at_second: float = 45.0) -> dict:
    rng = random.Random(seed)
    client = Client(base_url, api_key)
    stop = threading.Event()
    if duration > 0:
        threading.Timer(duration, stop.set).start()
    if faults:
        threading.Thread(target=fault_bursts, args=(client, stop, min(10.0, fault_every), fault_every), daemon=True).start()
    if abuse:
        threading.Thread(target=abuse_cycle, args=(client, stop, min(20.0, abuse_every), abuse_every, abuse_at_second),
                         daemon=True).start()
    recent: list[str] = []
    status, payload = client.call("GET", "/api/workflows/projects")
    projects = [p["id"] for p in json.loads(payload)["projects"]] if status == 200 else []
    interval = 1.0 / rps
    with ThreadPoolExecutor(concurrency) as pool:
        inflight = []
        next_at = time.monotonic()
        while not stop.is_set():
            inflight = [f for f in inflight if not f.done()]
            if len(inflight) < concurrency:  # never more than `concurrency` requests at once
                inflight.append(pool.submit(one_action, client, random.Random(rng.random()), recent, projects))
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
    return client.counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--duration", type=float, default=60, help="seconds; 0 = until interrupted")
    p.add_argument("--rps", type=float, default=4.0, help="requests per second (cap)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--no-faults", dest="faults", action="store_false")
    p.add_argument("--fault-every", type=float, default=90.0, help="seconds between fault bursts")
    p.add_argument("--no-abuse", dest="abuse", action="store_false")
    p.add_argument("--abuse-every", type=float, default=300.0, help="seconds between abuse episodes")
    p.add_argument("--abuse-at-second", type=float, default=45.0,
                   help="second of the minute the rate-limit burst starts at; -1 = at once")
    p.add_argument("--api-key", default=None, help="default: the first key of API_KEYS")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    api_key = a.api_key or next((k.strip() for k in os.getenv("API_KEYS", "").split(",") if k.strip()), None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s loadgen %(message)s")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # docker stop ends it cleanly
    try:
        counts = run(a.base_url, a.duration, a.rps, a.concurrency, a.faults, a.fault_every, api_key, a.seed,
                     a.abuse, a.abuse_every, a.abuse_at_second)
    except KeyboardInterrupt:
        counts = {}
    print(json.dumps({"loadgen": "done", "responses": counts}))


if __name__ == "__main__":
    main()
