"""Capacity of one Prometheus: memory, CPU and rule evaluation time at 100k, 500k and 1M active series.

    make bench-capacity     (or: .venv/bin/python bench/capacity.py --sizes 100000 500000 1000000)

The series are the reference backend's own: a real backend is driven by the load generator for a while,
its /metrics text is captured, and a small HTTP server serves that text as many times as the size needs,
each copy a scrape target with its own `instance` (a replica). So the shipped rules aggregate over the
series they were written for, and "active series / series per backend" is a count of replicas. The
counters in the text rise between scrapes (two copies alternate) so samples are not all duplicates.

For each size a fresh Prometheus (make tools: the pinned release) scrapes every target
each 15 s and evaluates prometheus/rules/*/*.yml each 15 s. After the head holds every series and one
more full scrape round has passed, it measures for --window seconds: resident memory (VmRSS, and the
peak VmHWM since start), CPU (utime + stime over the window, in cores), the rule groups' evaluation time
(sum over the groups of prometheus_rule_group_last_duration_seconds, the worst sample of the window) and
the iterations Prometheus skipped because a group overran its interval. Wall-clock figures depend on
what else runs (the machine's load average is printed with them); the samples the shipped rules read in
one evaluation (each rule's expression run once with stats=all) do not.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from harness import BACKEND_DIR, Proc, free_port, start_backend, wait_until  # noqa: E402
from harness.monitoring import StaticExporter, binary  # noqa: E402

RULES = sorted((ROOT / "prometheus" / "rules").glob("*/*.yml"))
INTERVAL = 15  # seconds: the shipped global scrape and evaluation interval


def backend_exposition(load_seconds: int) -> bytes:
    """/metrics of a real backend after the load generator ran for ``load_seconds``."""
    tmp = tempfile.mkdtemp(prefix="vigil-cap-db-")
    backend = start_backend(env={"DATABASE_URL": f"sqlite:///{tmp}/vigil.db"})
    try:
        subprocess.run([sys.executable, "-m", "loadgen", "--base-url", backend.base_url, "--duration",
                        str(load_seconds), "--seed", "7"], cwd=BACKEND_DIR, check=True, capture_output=True)
        with urllib.request.urlopen(backend.base_url + "/metrics", timeout=10) as r:
            return r.read()
    finally:
        backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def series_lines(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if line and not line.startswith(b"#")]


def bumped(text: bytes) -> bytes:
    """The same exposition with every counter-like value (a _total, _count, _sum or _bucket) one higher."""
    out = []
    for line in text.splitlines():
        m = re.match(rb"^(\S+?(?:_total|_count|_sum|_bucket)(?:\{.*\})?) (\S+)(.*)$", line)
        if m and not line.startswith(b"#"):
            line = m.group(1) + b" " + repr(float(m.group(2)) + 1).encode() + m.group(3)
        out.append(line)
    return b"\n".join(out) + b"\n"


def config(exporter_port: int, replicas: int, prom_port: int) -> str:
    """One job `backend` (as the shipped rules expect) with ``replicas`` targets, plus Prometheus itself."""
    targets = "\n".join(f'      - targets: ["127.0.0.1:{exporter_port}"]\n        labels: {{instance: "replica-{i}:8000"}}'
                        for i in range(replicas))
    return (f"global:\n  scrape_interval: {INTERVAL}s\n  evaluation_interval: {INTERVAL}s\n"
            "rule_files:\n" + "".join(f"  - rules/{p.name}\n" for p in RULES)
            + "scrape_configs:\n  - job_name: backend\n    static_configs:\n" + targets + "\n"
            f"  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{prom_port}\"]\n")


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_metric(base: str, name: str) -> float:
    """Sum of one metric's samples on Prometheus' own /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def rule_samples(base: str) -> int:
    """Samples one evaluation of every shipped rule reads (the query engine's own count: no clock involved)."""
    total = 0
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": rule["expr"], "stats": "all"})
                with urllib.request.urlopen(url, timeout=300) as r:
                    total += json.loads(r.read())["data"]["stats"]["samples"]["totalQueryableSamples"]
    return total


def measure(text: bytes, size: int, window: float) -> dict:
    per_backend = len(series_lines(text))
    replicas = math.ceil(size / per_backend)
    exporter = StaticExporter(text, bumped(text))  # copies alternate per scrape, so counters move
    workdir = Path(tempfile.mkdtemp(prefix="vigil-cap-prom-"))
    (workdir / "rules").mkdir()
    for p in RULES:
        shutil.copy(p, workdir / "rules" / p.name)
    port = free_port()
    (workdir / "prometheus.yml").write_text(config(exporter.port, replicas, port))
    prom = Proc("prometheus", [binary("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
                               f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                cwd=str(workdir)).start()
    base = f"http://127.0.0.1:{port}"
    try:
        prom.wait_http(base + "/-/ready", timeout=60)
        started = time.monotonic()
        expected = replicas * per_backend
        wait_until(lambda: own_metric(base, "prometheus_tsdb_head_series") >= expected, 600, interval=2,
                   message=f"{expected} series in the head")
        head_full = time.monotonic() - started
        # One more full round of scrapes and rule evaluations: the steady state.
        time.sleep(INTERVAL)
        cpu0, t0 = cpu_seconds(prom.pid), time.monotonic()
        rules_worst, rss_worst = 0.0, 0
        while time.monotonic() - t0 < window:
            time.sleep(INTERVAL / 3)
            rules_worst = max(rules_worst, own_metric(base, "prometheus_rule_group_last_duration_seconds"))
            rss_worst = max(rss_worst, proc_status(prom.pid)["VmRSS"])
        cpu = (cpu_seconds(prom.pid) - cpu0) / (time.monotonic() - t0)
        load = os.getloadavg()[0]
        status = proc_status(prom.pid)
        missed = own_metric(base, "prometheus_rule_group_iterations_missed_total")
        return {"size": size, "replicas": replicas, "head_series": int(own_metric(base, "prometheus_tsdb_head_series")),
                "rss": rss_worst, "peak": status["VmHWM"], "cpu": cpu, "rules_ms": rules_worst * 1000,
                "rule_samples": rule_samples(base), "missed": missed, "load": load,
                "head_full_s": head_full, "per_backend": per_backend}
    finally:
        prom.stop(timeout=60)
        exporter.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000, 1_000_000])
    parser.add_argument("--window", type=float, default=4 * INTERVAL, help="seconds measured per size")
    parser.add_argument("--load-seconds", type=int, default=30, help="load generator run before the capture")
    args = parser.parse_args()
    text = backend_exposition(args.load_seconds)
    print(f"backend exposition: {len(series_lines(text))} series, {len(text):,} bytes", flush=True)
    rows = []
    for size in args.sizes:
        row = measure(text, size, args.window)
        print(f"  {size:,}: {row}", flush=True)
        rows.append(row)
    print()
    print("| active series (head) | backend replicas | resident memory (MiB) | peak RSS (MiB) | CPU (cores) "
          "| shipped rules: samples read per evaluation | shipped rules: evaluation time (s) "
          "| rule iterations missed | head filled after (s) | machine load (1 min) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['head_series']:,} | {r['replicas']:,} | {r['rss'] / 2**20:,.0f} | {r['peak'] / 2**20:,.0f} "
              f"| {r['cpu']:.2f} | {r['rule_samples']:,} | {r['rules_ms'] / 1000:,.1f} | {r['missed']:.0f} "
              f"| {r['head_full_s']:.0f} | {r['load']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
