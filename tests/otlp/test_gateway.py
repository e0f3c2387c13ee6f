"""The OTLP gateway: traces, metrics and logs sent over OTLP reach Jaeger, Prometheus and Loki's endpoint.

Real programs: the OpenTelemetry Collector built from otelcol/builder.yaml (make tools) running the shipped
otelcol/config.yaml (addresses moved to loopback ports, tests/harness/otlp.py), Jaeger 2.12 and Prometheus
3.13 with the shipped prometheus.yml's `otlp:` block and --web.enable-otlp-receiver (the flag Compose sets).
The sender is the OpenTelemetry Python SDK with its OTLP/HTTP exporters. Loki cannot run here: a recording
HTTP server stands in at its OTLP path and the test decodes what the collector posted there.
"""
from __future__ import annotations

import gzip
import json
import time
import uuid

import httpx
import pytest
import yaml
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from harness import REPO, free_port, wait_until
from harness.monitoring import compose_command, promql, start_jaeger, start_prometheus
from harness.otlp import LogsReceiver, start_collector


def prometheus_config(collector_metrics: str) -> str:
    """The shipped prometheus.yml's global and otlp blocks, with the collector's own scrape job only."""
    shipped = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in shipped["scrape_configs"] if j["job_name"] == "otel-collector"]
    job["static_configs"] = [{"targets": [collector_metrics]}]
    job["scrape_interval"] = "1s"
    return yaml.safe_dump({"global": shipped["global"], "otlp": shipped["otlp"], "scrape_configs": [job]},
                          sort_keys=False)


@pytest.fixture(scope="module")
def stack():
    flags = [f for f in compose_command("prometheus") if f == "--web.enable-otlp-receiver"]
    assert flags, "docker-compose.yml starts Prometheus without its OTLP receiver"
    jaeger = start_jaeger()
    logs = LogsReceiver()
    prom_port = free_port()
    collector = start_collector(jaeger.otlp_grpc, f"http://127.0.0.1:{prom_port}", logs.url)
    prom = start_prometheus(prometheus_config(collector.metrics_address), extra_args=flags, port=prom_port)
    yield {"jaeger": jaeger, "logs": logs, "collector": collector, "prometheus": prom}
    prom.stop()
    collector.stop()
    logs.stop()
    jaeger.stop()


def _resource(name: str, instance: str):
    from opentelemetry.sdk.resources import Resource
    return Resource.create({"service.name": name, "service.instance.id": instance,
                            "deployment.environment": "test"})


def test_spans_reach_jaeger_through_the_collector(stack):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=_resource("otlp-probe", "probe-1"))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=stack["collector"].otlp_http + "/v1/traces")))
    with provider.get_tracer("probe").start_as_current_span("probe work") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    jaeger = stack["jaeger"]

    def found():
        r = httpx.get(f"{jaeger.base_url}/api/traces/{trace_id}", timeout=5)
        return r.json()["data"][0] if r.status_code == 200 and r.json().get("data") else None
    trace = wait_until(found, 30, interval=0.5, message="the probe's trace in Jaeger")
    [span] = trace["spans"]
    assert span["operationName"] == "probe work"
    assert trace["processes"][span["processID"]]["serviceName"] == "otlp-probe"


def test_metrics_land_in_prometheus_with_job_and_instance_from_the_resource(stack):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    instance = f"probe-{uuid.uuid4().hex[:8]}"
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=stack["collector"].otlp_http + "/v1/metrics"), export_interval_millis=500)
    provider = MeterProvider(resource=_resource("otlp-metrics-probe", instance), metric_readers=[reader])
    meter = provider.get_meter("probe")
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    requests = meter.create_counter("probe.requests", unit="{request}")
    for value in (0.01, 0.2, 0.7):
        duration.record(value, {"http.request.method": "GET", "http.route": "/x",
                                "http.response.status_code": 200})
        requests.add(1)
    provider.force_flush()

    base = stack["prometheus"].base_url
    series = wait_until(lambda: promql(base, f'http_server_request_duration_seconds_count{{instance="{instance}"}}'),
                        60, interval=0.5, message="the OTLP histogram in Prometheus")
    provider.shutdown()
    [sample] = series
    labels = sample["metric"]
    # job = service.name (no namespace), instance = service.instance.id; the promoted attributes are labels.
    assert labels["job"] == "otlp-metrics-probe" and labels["instance"] == instance
    assert labels["service_name"] == "otlp-metrics-probe" and labels["deployment_environment"] == "test"
    assert labels["http_route"] == "/x" and labels["http_request_method"] == "GET"
    assert float(sample["value"][1]) == 3
    # Classic buckets (the SDK's default explicit-bucket histogram) for histogram_quantile.
    buckets = promql(base, f'http_server_request_duration_seconds_bucket{{instance="{instance}"}}')
    assert len(buckets) > 3
    [total] = promql(base, f'probe_requests_total{{instance="{instance}"}}')
    assert float(total["value"][1]) == 3


def test_logs_reach_lokis_otlp_path(stack):
    import logging

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    marker = f"otlp-log-{uuid.uuid4().hex}"
    provider = LoggerProvider(resource=_resource("otlp-logs-probe", "probe-1"))
    provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=stack["collector"].otlp_http + "/v1/logs")))
    logger = logging.getLogger("otlp-probe")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning(marker)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    def received():
        for path, headers, body in list(stack["logs"].posts):
            raw = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
            request = logs_service_pb2.ExportLogsServiceRequest()
            request.ParseFromString(raw)
            for rl in request.resource_logs:
                service = {a.key: a.value.string_value for a in rl.resource.attributes}.get("service.name")
                for sl in rl.scope_logs:
                    for rec in sl.log_records:
                        if rec.body.string_value == marker:
                            return path, service, rec
        return None
    path, service, record = wait_until(received, 30, interval=0.5, message="the log record at Loki's OTLP path")
    assert path == "/otlp/v1/logs"
    assert service == "otlp-logs-probe" and record.severity_text == "WARN"


def test_prometheus_scrapes_the_collectors_own_counts(stack):
    """The otel-collector job: what the gateway accepted and sent, per pipeline (after the tests above)."""
    base = stack["prometheus"].base_url
    wait_until(lambda: promql(base, 'up{job="otel-collector"} == 1'), 30, interval=0.5,
               message="the collector's own metrics scraped")
    accepted = wait_until(lambda: promql(base, 'sum by (job) (otelcol_receiver_accepted_metric_points)'),
                          30, interval=0.5, message="otelcol_receiver_accepted_metric_points")
    assert accepted[0]["metric"]["job"] == "otel-collector" and float(accepted[0]["value"][1]) > 0
    failed = promql(base, 'sum(otelcol_exporter_send_failed_metric_points) or vector(0)')
    assert float(failed[0]["value"][1]) == 0
