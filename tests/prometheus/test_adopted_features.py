"""What the pinned Prometheus (3.13) offers and the stack adopts, each on the real program.

Runs real programs: prometheus 3.13 (make tools, the pinned release) loading the shipped prometheus.yml
(only the self-scrape address rewritten) and the shipped rules, started with the flags docker-compose.yml
gives it. Proves: --config.auto-reload picks up a changed rule file without a signal and refuses a broken
one while the running rules stay; the global scrape_native_histograms stores a target's native histogram
(Prometheus's own request-duration histogram: the backend's prometheus_client exposes classic ones only)
and always_scrape_classic_histograms keeps its classic _bucket series for the dashboards.
"""
from __future__ import annotations

import re

import yaml

from harness import free_port, http_get, promrules, wait_until
from harness.monitoring import compose_command, promql, rewrite_targets, start_prometheus

SHIPPED = (promrules.PROMETHEUS_DIR / "prometheus.yml").read_text()


def compose_flags(*names: str) -> list[str]:
    """The Prometheus flags of docker-compose.yml among ``names``."""
    return [f for f in compose_command("prometheus") if f.split("=", 1)[0] in names]


def rule_names(prom) -> set[str]:
    _, body = http_get(prom.base_url + "/api/v1/rules")
    return {r["name"] for g in yaml.safe_load(body)["data"]["groups"] for r in g["rules"]}


def last_reload_ok(prom) -> float:
    _, body = http_get(prom.base_url + "/metrics")
    return float(re.search(r"^prometheus_config_last_reload_successful (\S+)$", body.decode(), re.M).group(1))


def test_a_changed_rule_file_is_picked_up_without_a_signal():
    flags = compose_flags("--config.auto-reload", "--config.auto-reload-interval")
    assert flags == ["--config.auto-reload"], "docker-compose.yml runs Prometheus without --config.auto-reload"
    # Compose's 30 s default interval, shortened so the test does not wait: the mechanism is the same.
    prom = start_prometheus(SHIPPED, promrules.rule_files(), extra_args=[*flags, "--config.auto-reload-interval=1s"])
    try:
        shipped = rule_names(prom)
        assert "vigil:probe_auto_reload" not in shipped and len(shipped) > 20
        added = prom.workdir / "rules" / "generic" / "zz-added.yml"   # matched by rules/generic/*.yml
        added.write_text("groups:\n  - name: added\n    rules:\n"
                         "      - record: vigil:probe_auto_reload\n        expr: vector(1)\n")
        wait_until(lambda: "vigil:probe_auto_reload" in rule_names(prom), 30, message="the added rule loaded")
        assert rule_names(prom) == shipped | {"vigil:probe_auto_reload"}
        assert last_reload_ok(prom) == 1

        # A broken edit: refused, counted as a failed reload, and the rules in force stay.
        added.write_text("groups:\n  - name: added\n    rules:\n      - record: vigil:probe_auto_reload\n"
                         "        expr: sum(\n")
        wait_until(lambda: last_reload_ok(prom) == 0, 30, message="the broken rule file refused")
        assert rule_names(prom) == shipped | {"vigil:probe_auto_reload"}
        assert prom.alive()
    finally:
        prom.stop()


def test_native_histograms_are_stored_and_classic_buckets_kept():
    global_ = yaml.safe_load(SHIPPED)["global"]
    assert global_.get("scrape_native_histograms") is True
    assert global_.get("always_scrape_classic_histograms") is True
    port = free_port()
    # Only the self-scrape job matters here; the other targets stay unreachable Compose names.
    prom = start_prometheus(rewrite_targets(SHIPPED, {"localhost:9090": f"127.0.0.1:{port}"}), port=port)
    try:
        def scraped():
            return promql(prom.base_url, 'prometheus_http_request_duration_seconds{job="prometheus"}') or None
        series = wait_until(scraped, 60, message="Prometheus's own request-duration histogram scraped")
        # A native histogram sample carries "histogram" (count, sum, buckets) instead of a float "value".
        assert all("histogram" in s for s in series), series[:1]
        assert float(series[0]["histogram"][1]["count"]) > 0
        count = promql(prom.base_url, 'histogram_count(prometheus_http_request_duration_seconds{job="prometheus"})')
        assert count and float(count[0]["value"][1]) > 0
        # The classic series of the same histogram are still there, with their le buckets.
        classic = promql(prom.base_url, 'prometheus_http_request_duration_seconds_bucket{job="prometheus"}')
        assert classic and {s["metric"]["le"] for s in classic} >= {"+Inf"}
    finally:
        prom.stop()


def test_without_the_global_key_the_same_target_gives_classic_only():
    """The control: the shipped key is what makes the difference, not the Prometheus version."""
    port = free_port()
    config = yaml.safe_load(rewrite_targets(SHIPPED, {"localhost:9090": f"127.0.0.1:{port}"}))
    config["global"].pop("scrape_native_histograms")
    prom = start_prometheus(yaml.safe_dump(config, sort_keys=False), port=port)
    try:
        wait_until(lambda: promql(prom.base_url, 'prometheus_http_request_duration_seconds_bucket{job="prometheus"}'),
                   60, message="the classic buckets scraped")
        assert promql(prom.base_url, 'prometheus_http_request_duration_seconds{job="prometheus"}') == []
    finally:
        prom.stop()
