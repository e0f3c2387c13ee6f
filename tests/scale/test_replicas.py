"""Several backend replicas: one Prometheus sees each, the rules and the instance variable add them up.

Runs real programs: three backends (uvicorn, one SQLite file each) and Prometheus 3.13 (make tools)
loading the shipped prometheus.yml and rules. Compose's DNS cannot run here and
Prometheus' DNS discovery asks the resolvers of /etc/resolv.conf (not /etc/hosts), so the backend job's
dns_sd_configs becomes a file_sd_configs listing the three addresses: the same discovery result (one
target per replica, instance = address:port), found another way. Also runs the real Compose v2 binary on
docker-compose.yml with three backend replicas.
"""
from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request

import pytest
import yaml

from harness import REPO, http_get, promrules, start_backend, wait_until
from harness.monitoring import PROMETHEUS_DIR, promql, start_prometheus, wait_for_targets_up

REPLICAS = 3
ROUTE = "/api/models"


def discovery_as_file(config_text: str, targets_file: str) -> str:
    """The shipped config with the backend job's DNS discovery replaced by a file of targets."""
    config = yaml.safe_load(config_text)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "backend")
    sd, = job.pop("dns_sd_configs")
    assert sd["type"] == "A" and sd["names"] == ["backend"], sd
    job["file_sd_configs"] = [{"files": [targets_file], "refresh_interval": "5s"}]
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture
def replicas(tmp_path):
    started = []
    try:
        backends = [start_backend(env={"DATABASE_URL": f"sqlite:///{tmp_path}/vigil-{i}.db"})
                    for i in range(REPLICAS)]
        started += backends
        targets = tmp_path / "backend.json"
        targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{b.port}" for b in backends]}]))
        config = discovery_as_file((PROMETHEUS_DIR / "prometheus.yml").read_text(), str(targets))
        prom = start_prometheus(config, promrules.rule_files())
        started.append(prom)
        yield backends, prom
    finally:
        for proc in reversed(started):
            proc.stop()
            if getattr(proc, "workdir", None):
                shutil.rmtree(proc.workdir, ignore_errors=True)


def get(url: str) -> None:
    urllib.request.urlopen(url, timeout=5).close()


def test_each_replica_is_a_target_and_the_rules_sum_them(replicas):
    backends, prom = replicas
    # A different number of requests per replica, so a sum or a mix-up shows.
    sent = {f"127.0.0.1:{b.port}": 0 for b in backends}

    def traffic():
        for i, backend in enumerate(backends):
            for _ in range(5 * (i + 1)):
                get(backend.base_url + ROUTE)
            sent[f"127.0.0.1:{backend.port}"] += 5 * (i + 1)

    traffic()
    by_job = wait_for_targets_up(prom, {"backend"}, timeout=60)
    assert {t["labels"]["instance"] for t in by_job["backend"]} == set(sent)
    # More after the first scrape, so the counters rise between scrapes and rates are above zero.
    traffic()

    # Per instance: the raw counters are exactly what each replica served.
    selector = f'http_server_request_duration_seconds_count{{job="backend", http_route="{ROUTE}"}}'
    def scraped():
        return {s["metric"]["instance"]: float(s["value"][1])
                for s in promql(prom.base_url, f"sum by (instance) ({selector})")}
    wait_until(lambda: scraped() == sent, 30, interval=0.5, message=f"per-instance counts {sent}")

    # The dashboards' instance variable lists every replica (its query, read from the dashboard).
    overview = json.loads((REPO / "grafana" / "dashboards" / "generic" / "overview.json").read_text())
    var = next(v for v in overview["templating"]["list"] if v["name"] == "instance")
    metric = var["query"]["query"].removeprefix("label_values(").rsplit(",", 1)[0].replace("$service", "backend")
    _, body = http_get(prom.base_url + "/api/v1/label/instance/values?" + urllib.parse.urlencode({"match[]": metric}))
    assert set(json.loads(body)["data"]) == set(sent)

    # Recorded series are per job: one series across the replicas, equal to the sum of their rates.
    expr = "job:http_server_requests:rate5m"
    recorded = wait_until(lambda: promql(prom.base_url, f'{expr}{{job="backend"}} > 0'), 60, interval=1,
                          message=f"{expr} recorded from two scrapes or more")
    assert len(recorded) == 1 and "instance" not in recorded[0]["metric"]
    at = float(recorded[0]["value"][0])
    ts = promql(prom.base_url, f'timestamp({expr}{{job="backend"}})', time=at)[0]["value"][1]
    summed = promql(prom.base_url, 'sum(rate(http_server_request_duration_seconds_count{job="backend"}[5m]))',
                    time=float(ts))
    again = promql(prom.base_url, f'{expr}{{job="backend"}}', time=float(ts))
    assert float(summed[0]["value"][1]) == pytest.approx(float(again[0]["value"][1]), rel=1e-9)
    assert float(again[0]["value"][1]) > 0
    # No backend recording rule keeps the instance label: every one aggregates the replicas.
    per_replica = promql(prom.base_url, '{__name__=~".+:.+", job="backend", instance!=""}')
    assert not per_replica, sorted({s["metric"]["__name__"] for s in per_replica})
