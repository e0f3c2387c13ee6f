"""The fast text renderer of /metrics against prometheus_client's own (in-process, no server).

Real programs: prometheus_client's generate_latest; bench/render.py in a child Python.
"""
from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import generate_latest

from harness import BACKEND_DIR, REPO
from observability.exposition import render_text


def test_fast_text_rendering_equals_prometheus_client():
    registry = CollectorRegistry()
    c = Counter("requests", "Requests with a\\backslash and a\nnewline.", ["route", "code"], registry=registry)
    c.labels("/a/{id}", "200").inc(3)
    c.labels('quo"te\\back\nline', "500").inc()
    Gauge("in_flight", "In flight.", registry=registry).set(2.5)
    h = Histogram("latency_seconds", "Latency.", ["route"], buckets=(0.1, 1.0, float("inf")), registry=registry)
    h.labels("/a").observe(0.05)
    h.labels("/b").observe(7)
    Summary("size_bytes", "Sizes.", registry=registry).observe(12)
    Counter("unused", "A labelled family with no child yet.", ["x"], registry=registry)
    assert render_text(registry) == generate_latest(registry)


def test_names_that_need_quoting_fall_back_to_prometheus_client():
    registry = CollectorRegistry()
    Gauge("with.dot", "UTF-8 name.", registry=registry).set(1)
    assert render_text(registry) == generate_latest(registry)


def test_the_benchmarks_registry_renders_the_same_bytes_both_ways():
    """bench/render.py fills a registry with the reference backend's metrics and compares both renderers before
    `make bench` counts them. Run once here, so that a renamed label cannot leave the benchmark broken."""
    proc = subprocess.run([sys.executable, "-P", str(REPO / "bench" / "render.py"), "vigil", "1"],
                          env={**os.environ, "PYTHONPATH": str(BACKEND_DIR)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def _every_shape(registry):
    """Counters, gauges, histograms and summaries of every shape render_text writes without collect()."""
    c = Counter("jobs", "Jobs.", ["queue", "state"], registry=registry)
    c.labels("default", "ok").inc(2)
    c.labels('quo"te\\back\nline', "ünï").inc(1e6)  # escapes, UTF-8 values, Go's exponent
    Counter("plain_total", "No labels.", registry=registry).inc(0.5)
    g = Gauge("temperature", "Can go down.", ["room"], registry=registry)
    g.labels("a").set(-3.25)
    g.labels("b").set(float("inf"))
    g.labels("c").set(float("nan"))
    g.labels("d").set(12345678.9)
    Gauge("queue_depth", "From a function.", registry=registry).set_function(lambda: 7)
    live = Gauge("live", "Labelled, from a function.", ["kind"], registry=registry)
    live.labels("x").set_function(lambda: 3)
    h = Histogram("wait_seconds", "Waits.", ["op", "a_label"], buckets=(0.01, 0.5, 2.0), registry=registry)
    h.labels("read", "z").observe(0.2)
    h.labels("write", "z").observe(5)
    Histogram("signed", "First bound below zero: no _sum.", buckets=(-1.0, 0.0, 1.0), registry=registry).observe(-2)
    s = Summary("payload_bytes", "Payloads.", ["dir"], registry=registry)
    s.labels("in").observe(1024)
    Summary("single_bytes", "Unlabelled.", registry=registry).observe(3)
    Gauge("empty_family", "No child yet.", ["x"], registry=registry)
    return c


def test_every_shape_is_written_without_collect_and_equals_prometheus_client(monkeypatch):
    registry = CollectorRegistry()
    _every_shape(registry)
    expected = generate_latest(registry)
    # The four classes are read directly: a collect() of theirs is never called.
    for cls in (Counter, Gauge, Histogram, Summary):
        monkeypatch.setattr(cls, "collect", lambda self: (_ for _ in ()).throw(AssertionError("collect() called")))
    assert render_text(registry) == expected
    assert render_text(registry) == expected  # the second time from the text cached per child


def test_what_is_not_one_of_the_four_classes_goes_through_collect():
    class Subclass(Counter):
        pass

    class Custom:
        def collect(self):
            from prometheus_client.core import GaugeMetricFamily
            yield GaugeMetricFamily("custom_value", "From a custom collector.", value=4, labels=None)

    registry = CollectorRegistry()
    Counter("before", "Before.", registry=registry).inc()
    Subclass("sub", "A subclass.", ["k"], registry=registry).labels("v").inc(2)
    registry.register(Custom())
    Gauge("after", "After.", registry=registry).set(1)
    assert render_text(registry) == generate_latest(registry)


def test_created_series_switched_on_still_render_the_same():
    from prometheus_client import disable_created_metrics, enable_created_metrics
    enable_created_metrics()
    try:
        registry = CollectorRegistry()
        _every_shape(registry)
        assert b"_created" in render_text(registry)
        assert render_text(registry) == generate_latest(registry)
    finally:
        disable_created_metrics()  # the instrumentation's setting (observability/metrics.py)


def test_a_removed_child_leaves_the_page_and_new_values_show():
    registry = CollectorRegistry()
    c = _every_shape(registry)
    render_text(registry)
    c.remove("default", "ok")
    c.labels("late", "ok").inc(3)
    body = render_text(registry)
    assert b'queue="default"' not in body and b'jobs_total{queue="late",state="ok"} 3.0' in body
    assert body == generate_latest(registry)


def test_a_registry_with_target_info_goes_through_collect():
    registry = CollectorRegistry(target_info={"env": "test"})
    _every_shape(registry)
    assert render_text(registry) == generate_latest(registry)
