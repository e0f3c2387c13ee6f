"""Loki and Alloy configuration, checked statically and against real backend output.

Loki and Alloy cannot run here. Real programs: the reference backend under uvicorn
(its JSON log lines, and the plain-text traceback it prints when it cannot start),
feeding a Python re-enactment of the Alloy stages the config declares (multiline,
json, regex, template, labels, structured_metadata: same inputs, same rules as the Go
code). Also cross-checked: Loki's config against its 3.7 key names and Compose's
ports, and Grafana's Loki datasource against the metadata name Alloy writes.
"""
from __future__ import annotations

import json
import re

import httpx
import pytest
import yaml

from harness import REPO, wait_until

from .alloy_syntax import Block, Ref, parse
from .receivers import OtlpReceiver, traceparent

LOKI_CONFIG = REPO / "loki" / "loki-config.yml"
ALLOY_CONFIG = REPO / "alloy" / "config.alloy"
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources"
ALLOWED_LABELS = {"service", "container", "level"}  # the brief's contract: nothing else
METADATA = {"trace_id", "request_id"}

# Keys of Loki 3.7's config (pkg/loki/config.go and pkg/validation/limits.go) this file may use.
LOKI_TOP_LEVEL = {"auth_enabled", "server", "common", "schema_config", "storage_config", "compactor",
                  "limits_config", "query_range", "analytics", "ruler", "ingester", "querier",
                  "frontend", "query_scheduler", "pattern_ingester", "memberlist", "tracing"}
LOKI_LIMITS = {"retention_period", "retention_stream", "max_query_lookback", "allow_structured_metadata",
               "volume_enabled", "ingestion_rate_mb", "ingestion_burst_size_mb", "per_stream_rate_limit",
               "per_stream_rate_limit_burst", "max_global_streams_per_user", "max_label_names_per_series",
               "max_line_size", "max_line_size_truncate", "reject_old_samples", "reject_old_samples_max_age",
               "max_entries_limit_per_query", "max_query_series", "discover_log_levels",
               "max_structured_metadata_entries_count", "creation_grace_period"}


def _hours(duration: str) -> float:
    units = {"h": 1, "d": 24, "w": 168, "m": 1 / 60, "s": 1 / 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hdwms])", duration))


@pytest.fixture(scope="module")
def alloy() -> Block:
    return parse(ALLOY_CONFIG.read_text())


def components(root: Block) -> dict[str, Block]:
    return {f"{b.name}.{b.label}": b for b in root.blocks}


def stages(alloy: Block) -> list[Block]:
    (process,) = [b for b in alloy.blocks if b.name == "loki.process"]
    return [b for b in process.blocks if b.name.startswith("stage.")]


def test_loki_config_single_binary_tsdb_retention():
    cfg = yaml.safe_load(LOKI_CONFIG.read_text())
    assert set(cfg) <= LOKI_TOP_LEVEL, set(cfg) - LOKI_TOP_LEVEL
    assert set(cfg["limits_config"]) <= LOKI_LIMITS, set(cfg["limits_config"]) - LOKI_LIMITS
    assert cfg["auth_enabled"] is False
    assert cfg["server"]["http_listen_port"] == 3100  # Compose service loki:3100, Alloy pushes there
    current = max(cfg["schema_config"]["configs"], key=lambda c: str(c["from"]))
    assert (current["schema"], current["store"], current["object_store"]) == ("v13", "tsdb", "filesystem")
    assert current["index"]["period"] == "24h"
    assert cfg["common"]["replication_factor"] == 1
    assert cfg["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert "filesystem" in cfg["common"]["storage"]
    compactor = cfg["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "filesystem"
    limits = cfg["limits_config"]
    assert _hours(limits["retention_period"]) == 30 * 24
    assert _hours(limits["max_query_lookback"]) <= _hours(limits["retention_period"])
    assert limits["allow_structured_metadata"] is True
    assert limits["ingestion_burst_size_mb"] >= limits["ingestion_rate_mb"] > 0
    assert cfg["analytics"]["reporting_enabled"] is False
    # Everything lives in the one volume the image (UID 10001) writes: /loki.
    paths = [cfg["common"]["path_prefix"], compactor["working_directory"],
             *cfg["common"]["storage"]["filesystem"].values()]
    assert all(p.startswith("/loki") for p in paths), paths


def test_loki_storage_stays_on_the_volume_with_either_object_store_client():
    """Loki 3.8 switches to the Thanos-based object-store client (use_thanos_objstore defaults to
    true), which ignores common.storage.filesystem: both clients must name the same folder on the
    volume, or chunks, index and delete requests land in the container's working directory."""
    cfg = yaml.safe_load(LOKI_CONFIG.read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["loki"]
    (volume,) = [v.split(":")[1] for v in compose["volumes"] if not v.startswith(".")]  # loki-data:/loki
    storage = cfg["storage_config"]
    assert "use_thanos_objstore" not in storage, "set both clients' folders rather than pin one client"
    legacy, thanos = storage["filesystem"]["directory"], storage["object_store"]["filesystem"]["dir"]
    assert legacy == thanos, "3.7 and 3.8 must read and write the same chunks folder"
    shipper = storage["tsdb_shipper"]
    # delete_request_store: filesystem = the object store above; the current schema stores there too.
    assert cfg["compactor"]["delete_request_store"] == "filesystem"
    assert max(cfg["schema_config"]["configs"], key=lambda c: str(c["from"]))["object_store"] == "filesystem"
    paths = [legacy, thanos, shipper["active_index_directory"], shipper["cache_location"],
             cfg["compactor"]["working_directory"], cfg["common"]["path_prefix"],
             *cfg["common"]["storage"]["filesystem"].values()]
    assert all(p == volume or p.startswith(volume + "/") for p in paths), (volume, paths)
    # Nothing relative anywhere (a relative path is the working directory, off the volume).
    def leaves(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from ((f"{key}.{k}", v) for k, v in leaves(value)) if isinstance(value, (dict, list)) \
                    else [(key, value)]
        elif isinstance(node, list):
            for item in node:
                yield from leaves(item)
    for key, value in leaves(cfg):
        if re.search(r"(directory|dir|path_prefix|cache_location)$", key):
            assert str(value).startswith(volume + "/") or value == volume, f"{key}: {value} is off the volume"


def test_alloy_pipeline_is_wired_and_low_cardinality(alloy):
    comps = components(alloy)
    assert {b.name for b in comps.values()} == {"discovery.docker", "discovery.relabel", "loki.source.docker",
                                                "loki.process", "loki.write"}
    # Every reference points at a component that exists, with an export it has.
    exports = {"discovery.docker": {"targets"}, "discovery.relabel": {"output", "rules"},
               "loki.process": {"receiver"}, "loki.write": {"receiver"}}
    for block in alloy.walk():
        for value in block.attrs.values():
            for ref in (value if isinstance(value, list) else [value]):
                if isinstance(ref, Ref) and not ref.args:  # a component export (calls are stdlib functions)
                    target, export = ref.path.rsplit(".", 1)
                    assert target in comps, f"{ref.path}: no component {target}"
                    assert export in exports[comps[target].name], ref.path

    source = comps["loki.source.docker.containers"]
    docker_api = Ref("coalesce", (Ref("sys.env", ("DOCKER_HOST",)), "unix:///var/run/docker.sock"))
    assert source.attrs["host"] == comps["discovery.docker.containers"].attrs["host"] == docker_api
    assert "labels" not in source.attrs  # no static labels on the side

    # Labels: relabel targets, stage.labels, and nothing that could add others.
    relabelled = {r.attrs["target_label"] for r in comps["discovery.relabel.containers"].all("rule")
                  if "target_label" in r.attrs}
    stage_labels = {k for s in stages(alloy) if s.name == "stage.labels" for k in s.attrs["values"]}
    assert relabelled == {"service", "container"} and stage_labels == {"level"}
    assert relabelled | stage_labels == ALLOWED_LABELS
    assert not [s for s in stages(alloy) if s.name in ("stage.static_labels", "stage.label_keep", "stage.pack")
                or s.attrs.get("labels_from_groups")]
    service_rule = [r for r in comps["discovery.relabel.containers"].all("rule")
                    if r.attrs.get("target_label") == "service"][0]
    assert service_rule.attrs["source_labels"] == ["__meta_docker_container_label_com_docker_compose_service"]

    # trace_id and request_id: structured metadata, extracted from the JSON line.
    (metadata,) = [s for s in stages(alloy) if s.name == "stage.structured_metadata"]
    assert set(metadata.attrs["values"]) == METADATA
    json_fields = {k for s in stages(alloy) if s.name == "stage.json" for k in s.attrs["expressions"]}
    assert METADATA <= json_fields and "level" in json_fields
    # Multi-line grouping must run first, before any stage reads the line.
    assert stages(alloy)[0].name == "stage.multiline"

    loki_port = yaml.safe_load(LOKI_CONFIG.read_text())["server"]["http_listen_port"]
    (endpoint,) = comps["loki.write.loki"].all("endpoint")
    assert endpoint.attrs["url"] == f"http://loki:{loki_port}/loki/api/v1/push"


# --- Python re-enactment of the Alloy stages, driven by the parsed config -----------------

def _go_regex(expr: str) -> re.Pattern:
    """RE2 and Python agree on the constructs used here ((?i), (?P<name>), classes)."""
    return re.compile(expr)


def multiline(alloy: Block, bursts: list[list[str]]) -> list[str]:
    """Alloy's stage.multiline for one stream (internal/component/loki/process/stages/multiline.go).

    ``bursts`` are groups of lines separated by more than max_wait_time, which flushes a block.
    """
    (stage,) = [s for s in stages(alloy) if s.name == "stage.multiline"]
    first = _go_regex(stage.attrs["firstline"])
    max_lines = int(stage.attrs.get("max_lines", 128))
    entries, block, started = [], [], False
    for burst in bursts:
        for line in burst:
            if not started and not first.search(line):
                entries.append(line)  # before the stream's first start line, entries pass through alone
                continue
            started = True
            if first.search(line) and block:
                entries.append("\n".join(block))
                block = []
            block.append(line)
            if len(block) == max_lines:
                entries.append("\n".join(block))
                block = []
        if block:  # max_wait_time elapsed with no new line
            entries.append("\n".join(block))
            block = []
    return entries


def process(alloy: Block, entry: str) -> tuple[dict, dict]:
    """The labels and structured metadata Alloy's stages would attach to one entry."""
    extracted: dict = {}
    labels: dict = {}
    metadata: dict = {}
    for stage in stages(alloy):
        if stage.name == "stage.logfmt":
            pairs = dict(re.findall(r'(?:^|\s)([A-Za-z_][\w.]*)=("[^"]*"|\S*)', entry))
            for name, src in stage.attrs["mapping"].items():
                if (src or name) in pairs:
                    extracted[name] = pairs[src or name].strip('"')
        elif stage.name == "stage.json":
            try:
                data = json.loads(entry)
            except ValueError:
                continue  # malformed JSON: the stage leaves the entry as it is
            for name, path in stage.attrs["expressions"].items():
                if isinstance(data, dict) and (path or name) in data:
                    extracted[name] = data[path or name]
        elif stage.name == "stage.regex":
            value = extracted.get(stage.attrs["source"])
            m = _go_regex(stage.attrs["expression"]).search(value) if isinstance(value, str) else None
            if m:
                extracted.update({k: v for k, v in m.groupdict().items() if v is not None})
        elif stage.name == "stage.template":
            assert stage.attrs["template"] == "{{ if .Value }}{{ ToLower .Value }}{{ end }}", \
                "re-enactment knows only this template: update the test with the config"
            src = stage.attrs["source"]
            if extracted.get(src):
                extracted[src] = str(extracted[src]).lower()
            else:
                extracted.pop(src, None)
        elif stage.name == "stage.labels":
            labels.update({k: extracted[v or k] for k, v in stage.attrs["values"].items()
                           if isinstance(extracted.get(v or k), str)})
        elif stage.name == "stage.structured_metadata":
            metadata.update({k: extracted[v or k] for k, v in stage.attrs["values"].items()
                             if isinstance(extracted.get(v or k), str)})
    return labels, metadata


def test_alloy_stages_on_real_backend_output(alloy, backend_factory):
    with OtlpReceiver() as otlp:
        backend = backend_factory(env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_TRACES_SAMPLER_ARG": "0"})
        header, trace_id, _ = traceparent()
        with httpx.Client(base_url=backend.base_url, timeout=10) as http:
            assert http.get("/api/models", headers={"traceparent": header,
                                                    "x-request-id": "req-alloy-1"}).status_code == 200
            assert http.get("/no/such/page").status_code == 404
    # The same backend failing at start-up prints a plain-text Python traceback on stderr.
    crashed = backend_factory(env={"DATABASE_URL": "bogus://nowhere"}, wait=False)
    wait_until(lambda: not crashed.alive(), 30, message="the misconfigured backend to exit")
    crash_lines = crashed.log().splitlines()
    assert crash_lines[0] == "Traceback (most recent call last):" and len(crash_lines) > 5

    # One container's stream: its normal JSON lines, then (restarted, misconfigured, seconds
    # later: longer than max_wait_time) the crash.
    (stage,) = [s for s in stages(alloy) if s.name == "stage.multiline"]
    assert 0 < _hours(stage.attrs["max_wait_time"]) * 3600 <= 5
    json_lines = [line for line in backend.log().splitlines() if line.startswith("{")]
    entries = multiline(alloy, [json_lines, crash_lines])
    assert entries[:len(json_lines)] == json_lines  # every JSON line stays its own entry
    (tail,) = entries[len(json_lines):]  # and the whole traceback forms one more entry
    assert tail == "\n".join(crash_lines)
    assert tail.splitlines()[-1].startswith("sqlalchemy.exc.")  # down to the exception line

    # The fields the pipeline extracts exist in the real access line, with the right values.
    records = [json.loads(line) for line in json_lines]
    (access,) = [r for r in records if r.get("request_id") == "req-alloy-1"]
    json_fields = {path or name for s in stages(alloy) if s.name == "stage.json"
                   for name, path in s.attrs["expressions"].items()}
    assert json_fields <= set(access), json_fields - set(access)
    labels, metadata = process(alloy, json.dumps(access))
    assert labels == {"level": "info"}
    assert metadata == {"trace_id": trace_id, "request_id": "req-alloy-1"}
    # Every line gets a bounded level label (or none), never other labels.
    for entry in entries:
        labels, metadata = process(alloy, entry)
        assert set(labels) <= {"level"} and set(metadata) <= METADATA
        assert labels.get("level", "info") in {"trace", "debug", "info", "notice", "warn", "warning", "error",
                                               "critical", "fatal", "panic"}
    # A Go service's logfmt line (Loki, Alloy, Prometheus) gets its level too.
    assert process(alloy, 'ts=2026-01-01T00:00:00Z caller=main.go:1 level=WARN msg="x"')[0] == {"level": "warn"}


def test_grafana_loki_derived_field_matches_metadata(alloy):
    files = sorted(DATASOURCES.glob("*.y*ml"))
    assert files, f"no datasource provisioning in {DATASOURCES}"
    sources = [ds for f in files for ds in (yaml.safe_load(f.read_text()) or {}).get("datasources", [])]
    (loki,) = [ds for ds in sources if ds.get("uid") == "loki"]
    assert loki["type"] == "loki"
    (field,) = [f for f in loki["jsonData"]["derivedFields"] if f["name"] == "trace_id"]
    assert field["datasourceUid"] == "jaeger" and any(ds.get("uid") == "jaeger" for ds in sources)
    (metadata,) = [s for s in stages(alloy) if s.name == "stage.structured_metadata"]
    if field.get("matcherType") == "label":  # reads structured metadata by name
        assert field["matcherRegex"] in metadata.attrs["values"]
    else:  # a regex over the log line must capture the 32-hex trace id of a backend JSON line
        line = json.dumps({"level": "info", "trace_id": "0af7651916cd43dd8448eb211c80319c"})
        assert re.search(field["matcherRegex"], line).group(1) == "0af7651916cd43dd8448eb211c80319c"
