"""The in-flight gauge and the latency histogram the middleware keeps on its fast path (in-process ASGI calls).

Real programs: none besides Python; FastAPI, the middleware and prometheus_client's own renderer in this process.
"""
from __future__ import annotations

import asyncio

from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest

from observability.middleware import ObservabilityMiddleware


def _sample(name: str, labels: dict) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_in_flight_requests_are_counted_while_they_run_and_observed_once_done():
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    gate = asyncio.Event()

    @app.get("/inflight-probe/{n}")
    async def probe(n: int):
        await gate.wait()
        return {"n": n}

    asgi = ObservabilityMiddleware(app, access_log=False, request_ids=False)
    route = {"http_request_method": "GET", "http_route": "/inflight-probe/{n}", "http_response_status_code": "200"}
    before = _sample("http_server_request_duration_seconds_count", route) or 0.0
    before_bucket = _sample("http_server_request_duration_seconds_bucket", {**route, "le": "10.0"}) or 0.0

    async def call(n: int) -> list[dict]:
        sent = []
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": f"/inflight-probe/{n}", "raw_path": f"/inflight-probe/{n}".encode(), "query_string": b"",
                 "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)
        await asgi(scope, receive, send)
        return sent

    async def scenario():
        tasks = [asyncio.create_task(call(n)) for n in range(3)]
        for _ in range(50):
            await asyncio.sleep(0)
        running = _sample("http_server_active_requests", {"http_request_method": "GET"})
        text = generate_latest(REGISTRY).decode()
        gate.set()
        results = await asyncio.gather(*tasks)
        return running, text, results

    running, text, results = asyncio.run(scenario())
    assert running == 3.0
    assert 'http_server_active_requests{http_request_method="GET"} 3.0' in text
    assert all(r[0]["status"] == 200 for r in results)
    assert _sample("http_server_active_requests", {"http_request_method": "GET"}) == 0.0
    assert _sample("http_server_request_duration_seconds_count", route) == before + 3
    assert _sample("http_server_request_duration_seconds_bucket", {**route, "le": "+Inf"}) == before + 3
    assert _sample("http_server_request_duration_seconds_bucket", {**route, "le": "10.0"}) == before_bucket + 3
    assert _sample("http_server_request_duration_seconds_sum", route) > 0
