"""JSON logs of the real backend (uvicorn's stdout): structure, request ids, no secrets."""
from __future__ import annotations

import json

from backend.helpers import request, run_workflow
from harness import wait_until

SECRETS = ("Bearer sekret-token-123", "sekret-token-123", "key-zyx-987", "session=cookie-abc-456")


def _lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.log().splitlines() if line.strip()]


def test_every_line_is_json_with_request_ids_and_no_secrets(backend_factory):
    be = backend_factory(env={"API_KEYS": "key-zyx-987"})
    headers = {"x-request-id": "req-abc.123", "authorization": "Bearer sekret-token-123",
               "cookie": "session=cookie-abc-456", "x-api-key": "key-zyx-987"}
    status, resp_headers, created = request("POST", be.base_url + "/api/workflows?api_key=key-zyx-987",
                                            {"name": "logged", "input": "hi"}, headers)
    assert status == 202 and resp_headers["x-request-id"] == "req-abc.123"
    request("GET", be.base_url + "/nowhere", headers={"x-request-id": "bad id with spaces\u00e9"})
    wait_until(lambda: any(l.get("logger") == "workflows" for l in _lines(be)), 20, message="workflow log line")

    text = be.log()
    for secret in SECRETS:
        assert secret not in text
    lines = _lines(be)  # raises if any line is not JSON
    for line in lines:
        assert {"timestamp", "level", "logger", "message", "service"} <= set(line), line
        assert line["service"] == "backend"
    access = [l for l in lines if l["logger"] == "access"]
    post = next(l for l in access if l["method"] == "POST")
    assert post["request_id"] == "req-abc.123"
    assert (post["route"], post["status"], post["path"]) == ("/api/workflows", 202, "/api/workflows")
    assert post["duration_ms"] > 0
    # The background run logs under the request id that started it.
    done = next(l for l in lines if l["logger"] == "workflows")
    assert done["request_id"] == "req-abc.123" and done["workflow_id"] == created["id"]
    # An invalid incoming id is replaced, not echoed.
    miss = next(l for l in access if l["route"] == "unmatched")
    assert miss["request_id"] != "bad id with spaces\u00e9" and len(miss["request_id"]) == 32


def test_generated_request_id_is_returned(backend):
    _, headers, _ = request("GET", backend.base_url + "/health")
    rid = headers["x-request-id"]
    assert len(rid) == 32
    wait_until(lambda: any(l.get("request_id") == rid for l in _lines(backend)), 5, message="access line")
