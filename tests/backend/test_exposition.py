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
