"""An LLM app that is not ours, instrumented only with the OpenTelemetry SDK's GenAI metrics, lights the LLM
dashboard's token and latency panels.

Real programs: "chatter", a Python script written below with no Vigil import that records the GenAI semantic
conventions' (1.41.0) client metrics gen_ai.client.token.usage and gen_ai.client.operation.duration with the
pinned OpenTelemetry SDK and its OTLP/HTTP metric exporter (OTEL_* variables only); the OpenTelemetry Collector
built from otelcol/builder.yaml running the shipped otelcol/config.yaml (tests/harness/otlp.py); Jaeger 2.12
(the collector's trace pipeline); `python3 -m render` on a temporary copy of the repository whose vigil.toml
gained one `scrape = "otlp"` [[service]]; Prometheus 3.13 with the rendered prometheus.yml (its `otlp:` block),
--web.enable-otlp-receiver and the rendered rules. Loki cannot run here: a recording server stands in.
Every query of the LLM dashboard that reads one of the two GenAI metrics (directly or through a recording
rule) is expanded as Grafana would, with $service = chatter, and run. The other LLM panels read Vigil's own
extensions (cost, calls, errors, cache, breakers, router), which no OTLP-only app sends.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from grafana.panels import all_panels, datasources, expand, variables
from harness import Proc, wait_until
from harness.monitoring import compose_command, promql, start_jaeger, start_prometheus
from harness.otlp import LogsReceiver, start_collector
from own_service.test_foreign_service import run_query
from vigil_config.test_render import copy, render

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "backend"))
from app import genai  # noqa: E402  (the pinned version and advised buckets, to compare with)

# The Prometheus names of the two conventions' metrics, and the recording rule built on the token one.
GENAI = ("gen_ai_client_token_usage", "gen_ai_client_operation_duration_seconds",
         "provider_model_token_type:gen_ai_client_token_usage:increase1h")

CHATTER_APP = '''
"""chatter: somebody's LLM client. Only the OpenTelemetry SDK and the GenAI semantic conventions' metrics."""
import random
import time

from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

SCHEMA = "https://opentelemetry.io/schemas/1.41.0"
provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
metrics.set_meter_provider(provider)
meter = metrics.get_meter("chatter", schema_url=SCHEMA)
tokens = meter.create_histogram(
    "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
    explicit_bucket_boundaries_advisory=[1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                         16777216, 67108864])
duration = meter.create_histogram(
    "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
    explicit_bucket_boundaries_advisory=[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                                         20.48, 40.96, 81.92])
CALLS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"), ("gcp.gemini", "gemini-2.5-flash")]
i = 0
while True:
    i += 1
    provider_name, model = CALLS[i % len(CALLS)]
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider_name,
             "gen_ai.request.model": model}
    if i % 10 == 0:
        duration.record(random.uniform(0.5, 2.0), {**attrs, "error.type": "timeout"})
    else:
        duration.record(random.uniform(0.2, 3.0), attrs)
        tokens.record(random.randint(200, 2000), {**attrs, "gen_ai.token.type": "input"})
        tokens.record(random.randint(20, 400), {**attrs, "gen_ai.token.type": "output"})
    time.sleep(0.05)
'''

CHATTER_BLOCK = '''
[[service]]
name = "chatter"
scrape = "otlp"

[service.slo]
availability = 0.995
latency_threshold = 0.5
latency_objective = 0.95
'''


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otlp-genai")
    root = copy(tmp)
    (root / "vigil.toml").write_text((root / "vigil.toml").read_text() + CHATTER_BLOCK)
    rendered = render(root)
    assert rendered.returncode == 0, rendered.stderr
    prom_dir = root / "prometheus"
    rules = {str(p.relative_to(prom_dir)): p.read_text() for p in sorted(prom_dir.glob("rules/*/*.yml"))}
    flags = [f for f in compose_command("prometheus") if f == "--web.enable-otlp-receiver"]
    assert flags
    jaeger, logs = start_jaeger(), LogsReceiver()
    prom = start_prometheus((prom_dir / "prometheus.yml").read_text(), rules, extra_args=flags)
    collector = start_collector(jaeger.otlp_grpc, prom.base_url, logs.url)
    (tmp / "chatter.py").write_text(CHATTER_APP)
    chatter = Proc("chatter", [sys.executable, "chatter.py"], cwd=str(tmp),
                   env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http, "OTEL_SERVICE_NAME": "chatter",
                        "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=chatter-1",
                        "OTEL_METRIC_EXPORT_INTERVAL": "2000", "PYTHONPATH": ""}).start()
    try:
        yield type("Stack", (), {"chatter": chatter, "prom": prom, "root": root})
    finally:
        for proc in (chatter, collector, prom, jaeger):
            proc.stop()
        logs.stop()
        shutil.rmtree(root, ignore_errors=True)


def names(base: str) -> set[str]:
    """Metric names Prometheus holds for job chatter."""
    return {s["metric"]["__name__"] for s in promql(base, '{job="chatter"}')}


def test_prometheus_names_the_genai_metrics_as_the_dashboard_reads_them(stack):
    want = {"gen_ai_client_token_usage_bucket", "gen_ai_client_token_usage_sum", "gen_ai_client_token_usage_count",
            "gen_ai_client_operation_duration_seconds_bucket", "gen_ai_client_operation_duration_seconds_sum",
            "gen_ai_client_operation_duration_seconds_count"}
    got = wait_until(lambda: want <= (n := names(stack.prom.base_url)) and n, 60, interval=1,
                     message="chatter's GenAI metrics in Prometheus")
    print(f"\nPrometheus names of chatter's OTLP metrics: {sorted(n for n in got if n.startswith('gen_ai'))}")
    tokens = promql(stack.prom.base_url, 'gen_ai_client_token_usage_count{job="chatter"}')
    labels = {k: v for k, v in tokens[0]["metric"].items() if k.startswith("gen_ai")}
    print(f"token usage labels: {sorted(tokens[0]['metric'])}")
    assert set(labels) == {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
                           "gen_ai_token_type"}
    assert {t["metric"]["gen_ai_provider_name"] for t in tokens} == {"openai", "anthropic", "gcp.gemini"}
    assert {t["metric"]["gen_ai_token_type"] for t in tokens} == {"input", "output"}
    assert tokens[0]["metric"]["instance"] == "chatter-1"
    # The conventions' advised boundaries arrive as classic buckets, the same as the reference app's.
    les = {float(s["metric"]["le"]) for s in promql(stack.prom.base_url, 'gen_ai_client_token_usage_bucket{job="chatter"}')
           if s["metric"]["le"] != "+Inf"}
    assert les == set(map(float, genai.TOKEN_USAGE_BUCKETS)), sorted(les)
    les = {float(s["metric"]["le"]) for s in promql(stack.prom.base_url,
                                                     'gen_ai_client_operation_duration_seconds_bucket{job="chatter"}')
           if s["metric"]["le"] != "+Inf"}
    assert les == set(genai.OPERATION_DURATION_BUCKETS), sorted(les)
    failed = promql(stack.prom.base_url, 'gen_ai_client_operation_duration_seconds_count{job="chatter", error_type!=""}')
    assert {s["metric"]["error_type"] for s in failed} == {"timeout"}


def test_the_llm_token_and_latency_panels_light_for_it(stack):
    sources = datasources()
    dash = json.loads((stack.root / "grafana/dashboards/reference/llm.json").read_text())
    service = variables(dash)["service"]
    service["current"] = {"text": "chatter", "value": "chatter"}
    genai_targets, others = [], set()
    for panel in all_panels(dash):
        for t in panel.get("targets", []):
            if t.get("datasource", {}).get("type") != "prometheus" or "expr" not in t:
                continue
            if any(re.search(rf"\b{re.escape(n)}", t["expr"]) for n in GENAI):
                genai_targets.append((panel["title"], expand(t["expr"], dash, sources), bool(t.get("instant"))))
            else:
                others.add(panel["title"])
    titles = {title for title, _, _ in genai_targets}
    assert titles == {"Tokens per hour by model", "Latency p50 / p95 by provider", "LLM latency histogram",
                      "LLM latency p95 by intent"}, titles

    def empty():
        return [(title, expr) for title, expr, instant in genai_targets
                if not run_query(stack.prom.base_url, expr, instant, dash, sources)]
    # "LLM latency p95 by intent": intent is Vigil's label, which chatter does not send; the panel still shows
    # one series (intent empty) per step, so it lights, without the per-intent split.
    try:
        wait_until(lambda: not empty(), 150, interval=5, message="every GenAI panel of vigil-llm to show chatter")
    except TimeoutError:
        pytest.fail("LLM panels without data for service=chatter (OTLP only):\n" + "\n".join(map(str, empty())))
    # The $gen_ai_provider variable is filled from the duration metric's gen_ai_provider_name.
    query = variables(dash)["gen_ai_provider"]["definition"]
    metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", query).groups()
    found = {s["metric"][label] for s in promql(stack.prom.base_url, metric.replace("$service", "chatter"))}
    assert found == {"openai", "anthropic", "gcp.gemini"}
    print(f"\nLLM panels that light from OTLP alone ({len(titles)}): {sorted(titles)}")
    print(f"LLM panels that need Vigil's extensions ({len(others)}): {sorted(others)}")
