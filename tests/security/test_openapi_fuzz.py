"""Schemathesis (and an OPTIONS request) against the real backend (uvicorn, as the image runs it, SQLite): every operation of the
OpenAPI document, generated inputs; no 5xx, and every response matches the document (status codes,
headers, content types, bodies).
"""
from __future__ import annotations

import secrets

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.configuration import set_hypothesis_home_dir


def test_every_operation_matches_the_document_and_never_5xx(backend_factory, tmp_path):
    set_hypothesis_home_dir(tmp_path)  # its caches go with the test's temporary folder, not into the repo
    try:
        _fuzz(backend_factory)
    finally:
        set_hypothesis_home_dir(None)  # back to the default


def _fuzz(backend_factory):
    # Many generated strings look like probes: keep the fuzzer from being blocked halfway through.
    # Keys on, as the document's security schemes say: schemathesis also checks a wrong one gets 401.
    key, token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    be = backend_factory(env={"BLOCK_AFTER_EVENTS": "1000000", "API_KEYS": key, "ADMIN_TOKEN": token})
    schema = schemathesis.openapi.from_url(be.base_url + "/openapi.json")
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers={"X-API-Key": key, "X-Admin-Token": token})

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


def test_405_lists_every_method_of_the_path(backend):
    from backend.helpers import request

    status, headers, _ = request("OPTIONS", backend.base_url + "/api/admin/faults")
    assert status == 405 and set(headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}
