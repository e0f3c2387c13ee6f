"""Overhead of Vigil's instrumentation against the uninstrumented app and its peers, against two baselines.

    make bench            (or: .venv/bin/python bench/instrumentation.py --duration 5 --rounds 3)
    .venv/bin/python bench/instrumentation.py --only instructions --no-render --variants none-telemetry-off,metrics

Every variant is given against the plain app with FastAPI's own telemetry ON (FastAPI's default) and OFF
(the headline: instrument() switches it off, and the peers run with it off too).
First table: instructions per request under valgrind's callgrind (bench/callgrind.py),
deterministic whatever else runs on the machine, then one /metrics render against
prometheus_client's own at three sizes. Second table: wall-clock req/s with wrk. Each variant of bench/app.py
runs in its own uvicorn process (one worker, pinned to CPU 0 when taskset exists) while wrk loads it from
CPU 1. Variants are interleaved round by round so drift on the machine hits them alike; the table shows the
median req/s of the rounds. Then GET /metrics is timed on the reference backend after the load generator has
filled its series, and both measures close side by side.
"""
from __future__ import annotations

import argparse
import http.client
import http.server
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import callgrind  # noqa: E402  (bench/ is on sys.path: it is the script's folder)
from harness import Proc, free_port, start_backend, venv_bin  # noqa: E402

VARIANTS = ["none", "none-telemetry-off", "metrics", "full", "full+tracing", "instrumentator", "starlette-exporter",
            "otel-fastapi", "fastapi-otel-prometheus"]
# Targets for Vigil's variants: the OFF baseline's instructions per request / the variant's (issue 27).
TARGETS = {"metrics": 0.96, "full": 0.92, "full+tracing at 10 %": 0.88}
RENDER_SCALES = (0, 30, 100)  # tenants in bench/render.py's registry: about 1.4 k, 3.9 k and 10.6 k lines
RENDER_TARGET = 2.5         # generate_latest's instructions / render_text's, at the largest size
# bench/app.py imports the instrumentation from the backend folder, as the backend does.
APP_ENV = {"PYTHONPATH": str(ROOT / "backend")}


class OtlpSink:
    """A local OTLP/HTTP endpoint (the collector stand-in) that counts spans and discards them.

    Spans are counted per first path segment, so that each run can export to its own
    ``{url}/{tag}`` and be asked afterwards how many of its requests were sampled.
    """

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        counts: dict[str, int] = {}
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers.get("content-length", 0))))
                n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                with lock:
                    tag = self.path.strip("/").split("/")[0]
                    counts[tag] = counts.get(tag, 0) + n
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.counts = counts


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") and os.cpu_count() > 1 else argv


def run_variant(variant: str, duration: float, connections: int, otlp: str) -> tuple[float, float]:
    port = free_port()
    env = {**APP_ENV, "BENCH_VARIANT": variant, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
    proc = Proc(f"bench-{variant}", pinned(0, [venv_bin("uvicorn"), "app:app", "--port", str(port),
                                                "--no-access-log", "--log-level", "warning"]),
                env=env, cwd=str(ROOT / "bench")).start()
    url = f"http://127.0.0.1:{port}/api/items/42"
    try:
        proc.wait_http(url, timeout=30)
        subprocess.run(pinned(1, ["wrk", "-t1", "-c", str(connections), "-d", "1s", url]),
                       capture_output=True)  # warm-up
        out = subprocess.run(pinned(1, ["wrk", "-t1", "-c", str(connections), "-d", f"{duration:g}s",
                                        "--latency", url]), capture_output=True, text=True).stdout
    finally:
        proc.stop()
        os.unlink(proc.log_path)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p50.group(2)]
    return rps, float(p50.group(1)) * scale


def metrics_render(seconds: float) -> tuple[int, float, float]:
    """Series count and median / p95 time of GET /metrics on the loaded reference backend."""
    backend = start_backend(env={"LLM_LATENCY_SCALE": "0.05", "LLM_FAILURE_RATE": "0.05"})
    try:
        subprocess.run([sys.executable, "-m", "loadgen", "--base-url", backend.base_url, "--duration",
                        str(seconds), "--rps", "40", "--fault-every", str(max(seconds / 3, 1))],
                       cwd=ROOT / "backend", capture_output=True, timeout=seconds + 60)
        times, body = [], b""
        conn = http.client.HTTPConnection("127.0.0.1", backend.port)  # kept alive, as Prometheus does
        for _ in range(100):
            t0 = time.perf_counter()
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            times.append((time.perf_counter() - t0) * 1000)
        conn.close()
        series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
        return series, statistics.median(times), sorted(times)[94]
    finally:
        backend.stop()


# The two sampled variants are counted with the sampler at 0 and at 1; "at 10 %" is the line between them.
SAMPLED = ("full+tracing", "otel-fastapi")


def _ratios(cost: float, on: float | None, off: float | None) -> tuple[str, str]:
    """(vs ON, vs OFF) for a cost where smaller is better (instructions): baseline / cost."""
    return (f"{on / cost:.3f}" if on else "", f"**{off / cost:.3f}**" if off else "")


def _verdict(row: str, ratio: float | None) -> str:
    target = TARGETS.get(row)
    if target is None or ratio is None:
        return ""
    return f"≥ {target:.2f} {'met' if ratio >= target else '**missed**'}"


def instruction_table(a, sink: OtlpSink) -> dict[str, float]:
    """Instructions per request under callgrind, and per /metrics render; returns the costs by row.

    Tracing at 10 % is computed, not sampled: full+tracing and otel-fastapi run with the sampler at 0 and at 1,
    and 10 % = 0.9 x the first + 0.1 x the second. Sampled at random, the difference of two runs holds
    50 ± 10 sampled requests, which would move the ratio by about ±0.007 from run to run. With --random-check
    the randomly sampled full+tracing run is made too: its cost should sit where its own share of sampled
    requests puts it on that line.
    """
    runs = []  # (row, variant of bench/app.py, extra environment)
    for v in a.variants:
        if v in SAMPLED:
            runs += [(f"{v}, none sampled", v, {"OTEL_TRACES_SAMPLER_ARG": "0"}),
                     (f"{v}, all sampled", v, {"OTEL_TRACES_SAMPLER_ARG": "1"})]
            if v == "full+tracing" and a.random_check:
                runs.append((f"{v}, random sampling", v, {}))
        else:
            runs.append((v, v, {}))
    cost, spans = {}, {}
    for row, v, extra in runs:
        tag = re.sub(r"[^a-z0-9]+", "-", row)
        # Each run exports to its own path of the sink; spans leave in full batches only (valgrind is ~50x slower).
        env = {"OTEL_BSP_SCHEDULE_DELAY": "600000", **extra,
               "OTEL_EXPORTER_OTLP_ENDPOINT": lambda n, tag=tag: f"{sink.url}/{tag}-{n}"}
        cost[row] = callgrind.per_request(v, a.n1, a.n2, a.warmup, env)
        spans[row] = (sink.counts.get(f"{tag}-{a.n2}", 0) - sink.counts.get(f"{tag}-{a.n1}", 0)) / (a.n2 - a.n1)
        print(f"callgrind {row:32s} {cost[row]:12,.0f} instructions/request, {spans[row]:.3f} spans/request",
              file=sys.stderr, flush=True)
    rows = [row for row, _, _ in runs]
    check = ""
    for v in SAMPLED:
        if f"{v}, none sampled" not in cost:
            continue
        none, every = cost[f"{v}, none sampled"], cost[f"{v}, all sampled"]
        row = f"{v} at 10 %"
        rows.insert(rows.index(f"{v}, none sampled"), row)
        cost[row], spans[row] = 0.9 * none + 0.1 * every, 0.1 * spans[f"{v}, all sampled"]
        if f"{v}, random sampling" in cost:
            share = spans[f"{v}, random sampling"]
            expected = none + share * (every - none)
            check = (f"\nRandom 10 % check: {share:.1%} of the counted requests were sampled; the line through the "
                     f"two pure cases puts that at {expected:,.0f} instructions, measured "
                     f"{cost[f'{v}, random sampling']:,.0f} ({cost[f'{v}, random sampling'] / expected - 1:+.2%}).")
    on, off = cost.get("none"), cost.get("none-telemetry-off")
    print(f"\nvalgrind --tool=callgrind, one uvicorn worker, GET /api/items/{{id}}: instructions per request = "
          f"(Ir at {a.n2} - Ir at {a.n1}) / {a.n2 - a.n1}, after {a.warmup} warm-up requests. Ratios are "
          f"baseline / variant: vs ON = the plain app with FastAPI's own telemetry on (its default), vs OFF = "
          f"with it off (the headline: every instrumented variant runs with it off). Spans: how many reached the "
          f"collector per counted request (otel-fastapi makes three per sampled request). At 10 % = 0.9 x none "
          f"sampled + 0.1 x all sampled.\n")
    print("| variant | instructions/request | vs OFF (+instr) | ratio vs ON | ratio vs OFF | spans/request | target (vs OFF) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        vs_on, vs_off = _ratios(cost[row], on, off)
        extra = f"{cost[row] - off:+,.0f}" if off else ""
        share = f"{spans[row]:.3f}" if spans[row] else ""
        print(f"| {row} | {cost[row]:,.0f} | {extra} | {vs_on} | {vs_off} | {share} | "
              f"{_verdict(row, off / cost[row] if off else None)} |")
    print(check)
    if not a.no_render:
        render_table()
    return cost


def render_table() -> None:
    """One /metrics render, collect() included, at three registry sizes (bench/render.py's TENANTS)."""
    print("\n| one /metrics render, collect() included | lines | prometheus_client generate_latest | "
          "Vigil render_text (same bytes) | Vigil cheaper by | target |")
    print("|---|---:|---:|---:|---:|---|")
    for scale in RENDER_SCALES:
        lines = callgrind.render_lines(scale)
        vigil, client = callgrind.per_render("vigil", scale), callgrind.per_render("prometheus_client", scale)
        ratio = client / vigil
        target = (f"≥ {RENDER_TARGET:.1f}x {'met' if ratio >= RENDER_TARGET else '**missed**'}"
                  if scale == RENDER_SCALES[-1] else "")
        print(f"| bench/render.py, {scale} tenants | {lines:,} | {client:,.0f} | {vigil:,.0f} | {ratio:.2f}x | {target} |",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description="instrumentation overhead benchmark")
    p.add_argument("--duration", type=float, default=5, help="seconds of wrk per run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--load-seconds", type=float, default=20, help="loadgen time before timing /metrics")
    p.add_argument("--warmup", type=int, default=200, help="requests before counting, under callgrind")
    # 2,000 counted requests: with 500, when a full garbage collection or an idle turn of the event loop falls
    # in the window moved a variant by 2 to 5 k instructions per request from one run to the next.
    p.add_argument("--n1", type=int, default=1000, help="counted requests, first callgrind run")
    p.add_argument("--n2", type=int, default=3000, help="counted requests, second callgrind run")
    p.add_argument("--only", choices=("instructions", "wallclock"), help="one table only")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (cheap runs while developing; "
                        f"a ratio needs its baseline, none or none-telemetry-off, in the subset)")
    p.add_argument("--no-render", action="store_true", help="skip the /metrics render comparison")
    p.add_argument("--no-backend", action="store_true", help="skip timing the reference backend's /metrics")
    p.add_argument("--random-check", action="store_true",
                   help="also run full+tracing with random 10 %% sampling, to check the 0.9/0.1 line")
    a = p.parse_args()
    wanted = a.variants.split(",")
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}: choose from {','.join(VARIANTS)}")
    a.variants = [v for v in VARIANTS if v in wanted]
    sink = OtlpSink()
    cost = rps = None
    if a.only != "wallclock":
        if not shutil.which("valgrind"):
            sys.exit("valgrind not found: apt-get install valgrind")
        cost = instruction_table(a, sink)
    if a.only != "instructions":
        rps = wallclock_table(a, sink.url)
    if cost and rps:
        side_by_side(a, cost, rps)


def side_by_side(a, cost: dict[str, float], rps: dict[str, float]) -> None:
    """Both measures of each variant in one table, against the OFF baseline."""
    c_off, r_off = cost.get("none-telemetry-off"), rps.get("none-telemetry-off")
    print("\n| variant | instructions/request | ratio vs OFF | req/s | ratio vs OFF |")
    print("|---|---:|---:|---:|---:|")
    for v in a.variants:
        row = f"{v} at 10 %" if v in SAMPLED else v
        c, r = cost.get(row), rps.get(v)
        if not (c_off and r_off and c and r):
            continue
        print(f"| {row} | {c:,.0f} | **{c_off / c:.3f}** | {r:,.0f} | {r / r_off:.2f} |")
    print("(req/s of the sampled variants: random 10 % sampling)")


def wallclock_table(a, otlp: str) -> dict[str, float]:
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in a.variants}
    for r in range(a.rounds):
        for v in a.variants:  # interleaved: every round runs every variant once
            results[v].append(run_variant(v, a.duration, a.connections, otlp))
            print(f"round {r + 1}/{a.rounds} {v:24s} {results[v][-1][0]:9.0f} req/s", file=sys.stderr, flush=True)
    rps = {v: statistics.median(x[0] for x in results[v]) for v in a.variants}
    on, off = rps.get("none"), rps.get("none-telemetry-off")
    print(f"\nwrk -t1 -c{a.connections} -d{a.duration:g}s, one uvicorn worker, {a.rounds} interleaved rounds "
          f"(median), Python {sys.version.split()[0]}. Ratios are variant / baseline req/s; the sampled "
          f"variants sample at random (10 %).\n")
    print("| variant | req/s | ratio vs ON | ratio vs OFF | p50 latency (ms) |")
    print("|---|---:|---:|---:|---:|")
    for v in a.variants:
        p50 = statistics.median(x[1] for x in results[v])
        vs_on = f"{rps[v] / on:.2f}" if on else ""
        vs_off = f"**{rps[v] / off:.2f}**" if off else ""
        print(f"| {v} | {rps[v]:,.0f} | {vs_on} | {vs_off} | {p50:.2f} |", flush=True)
    if not a.no_backend:
        series, med, p95 = metrics_render(a.load_seconds)
        print(f"\n| /metrics of the reference backend | series | median (ms) | p95 (ms) |")
        print("|---|---:|---:|---:|")
        print(f"| after {a.load_seconds:.0f} s of loadgen | {series} | {med:.2f} | {p95:.2f} |")
    return rps


if __name__ == "__main__":
    main()
