"""prometheus/rules/generic/services.yml and its promtool tests: every configured service's HTTP signals.

Recording rules (rate, 5xx ratio, latency quantiles; all `by (job)`) read Vigil's classic histogram
(http_server_request_duration_seconds_bucket/_count) OR a native (exponential) histogram of the same name,
as FastAPI's OpenTelemetry instrumentation may push over OTLP: each rule is "classic or native", so both
give the same recorded series. Alerts: BackendDown (critical) for every configured service, TargetDown
(warning) for every other job, HighErrorRatio, HighLatencyP95, RequestsInFlightSaturating.

The tests are rendered from the same config: their inputs sit around the configured thresholds (so a
moved threshold keeps them meaningful), and tests/prometheus/test_thresholds.py moves the constants alone
to prove the tests notice.
"""
from __future__ import annotations

import math

from . import yamlout
from .config import Config, Service
from .thresholds import HEADER

RULES = "prometheus/rules/generic/services.yml"
TESTS = "prometheus/tests/generic/services.test.yml"
H = "http_server_request_duration_seconds"
FIVE_XX = 'http_response_status_code=~"5.."'
OVERVIEW = "/d/vigil-overview"


def _rate(by: str, selector: str = "") -> str:
    """Requests per second by `by`, from the classic _count or from a native histogram's count."""
    sel = f"{{{selector}}}" if selector else ""
    return (f"sum by ({by}) (rate({H}_count{sel}[5m]))\n"
            f"  or sum by ({by}) (histogram_count(rate({H}{sel}[5m])))")


def _ratio(by: str, total: str) -> str:
    """Share answered 5xx; reads 0 (not "no data") while nothing has failed."""
    return (f"(\n    {_rate(by, FIVE_XX).replace(chr(10), chr(10) + '    ')}\n"
            f"  or\n    {total} * 0\n)\n/ {total}")


def _quantile(q: float, by: str, buckets: str) -> str:
    return (f"histogram_quantile({q:.2f}, {buckets})\n"
            f"  or histogram_quantile({q:.2f}, sum by ({by}) (rate({H}[5m])))")


def recording_rules() -> list[dict]:
    rules = [
        {"record": "job:http_server_requests:rate5m", "expr": _rate("job")},
        {"record": "http_route:http_server_requests:rate5m", "expr": _rate("job, http_route")},
        # Status code mix (2xx/4xx/5xx panels).
        {"record": "http_response_status_code:http_server_requests:rate5m",
         "expr": _rate("job, http_response_status_code")},
        # Share of requests answered 5xx (4xx are the client's fault and not counted).
        {"record": "job:http_server_requests_5xx:ratio_rate5m", "expr": _ratio("job", "job:http_server_requests:rate5m")},
        {"record": "http_route:http_server_requests_5xx:ratio_rate5m",
         "expr": _ratio("job, http_route", "http_route:http_server_requests:rate5m")},
        # Classic bucket rates per route, kept once; the quantiles below are computed from them.
        {"record": f"http_route_le:{H}_bucket:rate5m", "expr": f"sum by (job, http_route, le) (rate({H}_bucket[5m]))"},
    ]
    for q in (50, 95, 99):
        rules.append({"record": f"http_route:{H}:p{q}_5m",
                      "expr": _quantile(q / 100, "job, http_route", f"http_route_le:{H}_bucket:rate5m")})
    for q in (50, 95, 99):
        rules.append({"record": f"job:{H}:p{q}_5m",
                      "expr": _quantile(q / 100, "job", f"sum by (job, le) (http_route_le:{H}_bucket:rate5m)")})
    return rules


def _alternation(names) -> str:
    return "|".join(sorted(names))


def down_expr(cfg: Config) -> str:
    scraped = [s.name for s in cfg.services if s.scrape != "otlp"]
    pushed = [s.name for s in cfg.services if s.scrape == "otlp"]
    terms = [f'up{{job=~"{_alternation(scraped)}"}} == 0'] if scraped else []
    # An OTLP service is not scraped: it is down when no target_info arrived for 5 minutes.
    terms += [f'absent_over_time(target_info{{job="{name}"}}[5m])' for name in pushed]
    return "\nor ".join(terms)


def _threshold(name: str, fmt: str) -> str:
    return f'{{{{ with query "vigil:{name}:constant" }}}}{{{{ . | first | value | {fmt} }}}}{{{{ end }}}}'


def alerting_rules(cfg: Config) -> list[dict]:
    names = _alternation(s.name for s in cfg.services)
    return [
        # Every configured service (vigil.toml): its targets stopped answering (or, OTLP, stopped pushing).
        {"alert": "BackendDown", "expr": down_expr(cfg), "for": "1m",
         "labels": {"severity": "critical", "service": "{{ $labels.job }}"},
         "annotations": {
             "summary": "Service {{ $labels.job }} is down{{ with $labels.instance }} ({{ . }}){{ end }}",
             "description": "Prometheus has had no metrics from service {{ $labels.job }}{{ with $labels.instance }} "
                            "at {{ . }} (up = {{ $value }}){{ end }} for over 1 minute: the process is down, "
                            "unreachable, or its /metrics (or OTLP push) fails.",
             "runbook_url": "/d/runbook-backenddown", "dashboard": OVERVIEW}},
        # Every other job: the stack's own exporters and programs.
        {"alert": "TargetDown", "expr": f'up{{job!~"{names}"}} == 0', "for": "5m",
         "labels": {"severity": "warning", "service": "{{ $labels.job }}"},
         "annotations": {
             "summary": "Target {{ $labels.instance }} of job {{ $labels.job }} is down",
             "description": "Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}, up = "
                            "{{ $value }}) for 5 minutes: its panels show no data and its own alerts cannot fire.",
             "runbook_url": "/d/runbook-targetdown", "dashboard": "/d/vigil-infra"}},
        # More than http_5xx_ratio_max of requests answered 5xx for 3 minutes, with at least one request
        # per 20 s so that a single failure on an idle service does not page.
        {"alert": "HighErrorRatio",
         "expr": "job:http_server_requests_5xx:ratio_rate5m > on () group_left () vigil:http_5xx_ratio_max:constant\n"
                 "and on (job) job:http_server_requests:rate5m > 0.05",
         "for": "3m", "labels": {"severity": "critical", "service": "{{ $labels.job }}"},
         "annotations": {
             "summary": "{{ $labels.job }} answers {{ $value | humanizePercentage }} of requests with 5xx",
             "description": "{{ $value | humanizePercentage }} of the requests to {{ $labels.job }} failed with a 5xx "
                            "status over the last 5 minutes (threshold "
                            + _threshold("http_5xx_ratio_max", "humanizePercentage")
                            + "). The http_route:http_server_requests_5xx:ratio_rate5m series shows which routes fail.",
             "runbook_url": "/d/runbook-higherrorratio", "dashboard": OVERVIEW}},
        {"alert": "HighLatencyP95",
         "expr": f"job:{H}:p95_5m > on () group_left () vigil:http_latency_p95_max_seconds:constant",
         "for": "5m", "labels": {"severity": "warning", "service": "{{ $labels.job }}"},
         "annotations": {
             "summary": "{{ $labels.job }} p95 latency is {{ $value | humanizeDuration }}",
             "description": "95% of requests to {{ $labels.job }} finished within {{ $value | humanizeDuration }} "
                            "over the last 5 minutes, above the "
                            + _threshold("http_latency_p95_max_seconds", "humanizeDuration")
                            + " objective, for 5 minutes.",
             "runbook_url": "/d/runbook-highlatencyp95", "dashboard": OVERVIEW}},
        # FastAPI runs sync handlers on AnyIO's pool of 40 threads per process: past ~32 requests in
        # flight new ones queue. Raise it with the number of workers.
        {"alert": "RequestsInFlightSaturating",
         "expr": "sum by (job, instance) (http_server_active_requests) > on () group_left () "
                 "vigil:requests_in_flight_max:constant",
         "for": "5m", "labels": {"severity": "warning", "service": "{{ $labels.job }}"},
         "annotations": {
             "summary": "{{ $value }} requests in flight on {{ $labels.instance }}",
             "description": "{{ $labels.instance }} (job {{ $labels.job }}) has had more than "
                            + _threshold("requests_in_flight_max", 'printf "%g"')
                            + " requests in flight for 5 minutes (now {{ $value }}); its worker thread pool of 40 "
                              "is close to full and requests queue.",
             "runbook_url": "/d/runbook-requestsinflightsaturating", "dashboard": OVERVIEW}},
    ]


def rules_text(cfg: Config) -> str:
    header = (HEADER + "# Every configured service's HTTP signals (recording rules, `by (job)`) and alerts.\n"
              "# Each rule reads the classic histogram (_bucket/_count) OR a native one of the same name.\n"
              "# Error ratios use \"(errors or total * 0) / total\" so they read 0 while nothing has failed.\n")
    return yamlout.dump({"groups": [{"name": "vigil-http", "rules": recording_rules()},
                                    {"name": "vigil-service-alerts", "rules": alerting_rules(cfg)}]}, header)


# --- promtool tests --------------------------------------------------------------------------------

def humanize_percentage(v: float) -> str:
    return f"{v * 100:.4g}%"


def humanize_duration(v: float) -> str:
    """Prometheus' humanizeDuration for the values the tests print."""
    if v == 0:
        return "0s"
    if abs(v) < 1:
        return f"{v * 1000:.4g}ms"
    days, rest = divmod(int(v), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, _ = divmod(rest, 60)
    seconds = v - int(v) + rest % 60
    if days:
        return f"{days}d {hours}h {minutes}m {int(seconds)}s"
    if hours:
        return f"{hours}h {minutes}m {int(seconds)}s"
    if minutes:
        return f"{minutes}m {int(seconds)}s"
    return f"{seconds:.4g}s"


def _series(job: str, route: str, code: str = "200", **extra) -> str:
    labels = {"job": job, "instance": f"{job}:8000", "http_request_method": "GET", "http_route": route,
              "http_response_status_code": code, **extra}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _down_cases(cfg: Config) -> list[dict]:
    cases = []
    pushed = [s.name for s in cfg.services if s.scrape == "otlp"]

    def pushing(but: str = "") -> list[dict]:   # the other OTLP services keep pushing: not down
        return [{"series": f'target_info{{job="{name}"}}', "values": "1x10"} for name in pushed if name != but]
    for s in cfg.services:
        if s.scrape == "otlp":   # pushed for 3 minutes, then silent: absent after 5 more minutes + for 1m
            cases.append({"interval": "1m",
                          "input_series": [{"series": f'target_info{{job="{s.name}"}}', "values": "1x3"},
                                           *pushing(but=s.name)],
                          "alert_rule_test": [
                              {"eval_time": "5m", "alertname": "BackendDown", "exp_alerts": []},
                              {"eval_time": "10m", "alertname": "BackendDown", "exp_alerts": [
                                  {"exp_labels": {"severity": "critical", "service": s.name, "job": s.name},
                                   "exp_annotations": _down_annotations(s.name, "", "1")}]}]})
            continue
        instance = f"{s.name}:{s.port or 8000}"
        cases.append({"interval": "1m",
                      "input_series": [{"series": f'up{{job="{s.name}", instance="{instance}"}}',
                                        "values": "1 1 0 0 0 0 0"}, *pushing()],
                      "alert_rule_test": [
                          {"eval_time": "1m", "alertname": "BackendDown", "exp_alerts": []},   # still up
                          {"eval_time": "2m", "alertname": "BackendDown", "exp_alerts": []},   # not for 1m yet
                          {"eval_time": "4m", "alertname": "BackendDown", "exp_alerts": [
                              {"exp_labels": {"severity": "critical", "service": s.name, "job": s.name,
                                              "instance": instance},
                               "exp_annotations": _down_annotations(s.name, instance, "0")}]},
                          # A configured service is never TargetDown (warning): it is BackendDown (critical).
                          {"eval_time": "7m", "alertname": "TargetDown", "exp_alerts": []}]})
    return cases


def _down_annotations(job: str, instance: str, value: str) -> dict:
    where = f" at {instance} (up = {value})" if instance else ""
    return {"summary": f"Service {job} is down" + (f" ({instance})" if instance else ""),
            "description": f"Prometheus has had no metrics from service {job}{where} for over 1 minute: the "
                           f"process is down, unreachable, or its /metrics (or OTLP push) fails.",
            "runbook_url": "/d/runbook-backenddown", "dashboard": OVERVIEW}


def _other_job(cfg: Config) -> str:
    names = {s.name for s in cfg.services}
    return next(n for n in ("redis-exporter", "exporter-x", "exporter-y") if n not in names)


def test_cases(cfg: Config) -> list[dict]:
    t = cfg.thresholds
    job = cfg.services[0].name
    other = _other_job(cfg)
    cases = _down_cases(cfg)
    cases.append({"interval": "1m",
                  "input_series": [{"series": f'up{{job="{other}", instance="{other}:9121"}}', "values": "1 0x10"}],
                  "alert_rule_test": [
                      {"eval_time": "4m", "alertname": "TargetDown", "exp_alerts": []},
                      {"eval_time": "8m", "alertname": "TargetDown", "exp_alerts": [
                          {"exp_labels": {"severity": "warning", "service": other, "job": other,
                                          "instance": f"{other}:9121"},
                           "exp_annotations": {
                               "summary": f"Target {other}:9121 of job {other} is down",
                               "description": f"Prometheus has failed to scrape {other}:9121 (job {other}, up = 0) "
                                              f"for 5 minutes: its panels show no data and its own alerts cannot fire.",
                               "runbook_url": "/d/runbook-targetdown", "dashboard": "/d/vigil-infra"}}]}]})

    # HighErrorRatio: `bad` of 100 requests a minute fail, well above the threshold.
    ratio = t["http_5xx_ratio_max"]
    bad = min(99, max(1, math.ceil(ratio * 1000)))
    err_ann = lambda value: {  # noqa: E731
        "summary": f"{job} answers {humanize_percentage(value)} of requests with 5xx",
        "description": f"{humanize_percentage(value)} of the requests to {job} failed with a 5xx status over the last "
                       f"5 minutes (threshold {humanize_percentage(ratio)}). The "
                       f"http_route:http_server_requests_5xx:ratio_rate5m series shows which routes fail.",
        "runbook_url": "/d/runbook-higherrorratio", "dashboard": OVERVIEW}
    cases.append({"interval": "1m",
                  "input_series": [{"series": f"{H}_count" + _series(job, "/a"), "values": f"0+{100 - bad}x20"},
                                   {"series": f"{H}_count" + _series(job, "/b", "503"), "values": f"0+{bad}x20"}],
                  "alert_rule_test": [{"eval_time": "15m", "alertname": "HighErrorRatio", "exp_alerts": [
                      {"exp_labels": {"severity": "critical", "service": job, "job": job},
                       "exp_annotations": err_ann(bad / 100)}]}],
                  "promql_expr_test": [{"expr": "http_route:http_server_requests_5xx:ratio_rate5m", "eval_time": "15m",
                                        "exp_samples": [
                                            {"labels": f'http_route:http_server_requests_5xx:ratio_rate5m{{job="{job}", http_route="/a"}}', "value": 0},
                                            {"labels": f'http_route:http_server_requests_5xx:ratio_rate5m{{job="{job}", http_route="/b"}}', "value": 1}]}]})
    # Below the threshold: half of it.
    quiet = math.floor(ratio * 200 / 2)
    cases.append({"interval": "1m",
                  "input_series": [{"series": f"{H}_count" + _series(job, "/a"), "values": f"0+{200 - quiet}x20"},
                                   {"series": f"{H}_count" + _series(job, "/a", "500"), "values": f"0+{quiet}x20"}],
                  "alert_rule_test": [{"eval_time": "15m", "alertname": "HighErrorRatio", "exp_alerts": []}]})
    # Half the requests fail, but there are only 4 per 5 minutes: no page.
    cases.append({"interval": "1m",
                  "input_series": [{"series": f"{H}_count" + _series(job, "/a"), "values": "0+0.4x20"},
                                   {"series": f"{H}_count" + _series(job, "/a", "500"), "values": "0+0.4x20"}],
                  "alert_rule_test": [{"eval_time": "15m", "alertname": "HighErrorRatio", "exp_alerts": []}]})
    # No 5xx at all: the ratio reads 0 (not "no data").
    cases.append({"interval": "1m",
                  "input_series": [{"series": f"{H}_count" + _series(job, "/a"), "values": "0+60x10"}],
                  "promql_expr_test": [
                      {"expr": "job:http_server_requests_5xx:ratio_rate5m", "eval_time": "10m",
                       "exp_samples": [{"labels": f'job:http_server_requests_5xx:ratio_rate5m{{job="{job}"}}', "value": 0}]},
                      {"expr": "job:http_server_requests:rate5m", "eval_time": "10m",
                       "exp_samples": [{"labels": f'job:http_server_requests:rate5m{{job="{job}"}}', "value": 1}]}]})

    # HighLatencyP95: 100 requests a minute, all between T and 2T: p50 = 1.5T, p95 = 1.95T, p99 = 1.99T
    # (histogram_quantile interpolates linearly inside the bucket).
    lat = float(t["http_latency_p95_max_seconds"])
    slow = [(lat / 5, "0x30"), (lat, "0x30"), (2 * lat, "0+100x30"), ("+Inf", "0+100x30")]
    series = [{"series": f"{H}_bucket" + _series(job, "/slow", le=le if le == "+Inf" else repr(float(le))),
               "values": v} for le, v in slow]
    series.append({"series": f"{H}_count" + _series(job, "/slow"), "values": "0+100x30"})
    p95 = 1.95 * lat
    cases.append({"interval": "1m", "input_series": series,
                  "alert_rule_test": [
                      {"eval_time": "4m", "alertname": "HighLatencyP95", "exp_alerts": []},  # not for 5m yet
                      {"eval_time": "20m", "alertname": "HighLatencyP95", "exp_alerts": [
                          {"exp_labels": {"severity": "warning", "service": job, "job": job},
                           "exp_annotations": {
                               "summary": f"{job} p95 latency is {humanize_duration(p95)}",
                               "description": f"95% of requests to {job} finished within {humanize_duration(p95)} over "
                                              f"the last 5 minutes, above the {humanize_duration(lat)} objective, "
                                              f"for 5 minutes.",
                               "runbook_url": "/d/runbook-highlatencyp95", "dashboard": OVERVIEW}}]}],
                  "promql_expr_test": [
                      {"expr": f"round(http_route:{H}:p50_5m, 0.0001)", "eval_time": "20m",
                       "exp_samples": [{"labels": f'{{job="{job}", http_route="/slow"}}', "value": round(1.5 * lat, 4)}]},
                      {"expr": f"round(job:{H}:p99_5m, 0.0001)", "eval_time": "20m",
                       "exp_samples": [{"labels": f'{{job="{job}"}}', "value": round(1.99 * lat, 4)}]}]})
    # Fast requests (all under T/5): p95 = 0.19T, no alert.
    fast = [{"series": f"{H}_bucket" + _series(job, "/fast", le=repr(lat / 5)), "values": "0+100x30"},
            {"series": f"{H}_bucket" + _series(job, "/fast", le="+Inf"), "values": "0+100x30"}]
    cases.append({"interval": "1m", "input_series": fast,
                  "alert_rule_test": [{"eval_time": "20m", "alertname": "HighLatencyP95", "exp_alerts": []}],
                  "promql_expr_test": [{"expr": f"round(job:{H}:p95_5m, 0.0001)", "eval_time": "20m",
                                        "exp_samples": [{"labels": f'{{job="{job}"}}', "value": round(0.19 * lat, 4)}]}]})

    # A native histogram (OTLP from FastAPI's own instrumentation, exponential buckets): the same recorded
    # series. Schema 0: buckets (0.5,1], (1,2], (2,4]. 60 requests a minute, 6 of them 5xx, all in (1,2].
    native = "native-svc"
    ok = f"{{{{schema:0 sum:0 count:0 buckets:[0 0]}}}}+{{{{schema:0 sum:81 count:54 buckets:[0 54]}}}}x20"
    ko = f"{{{{schema:0 sum:0 count:0 buckets:[0 0]}}}}+{{{{schema:0 sum:9 count:6 buckets:[0 6]}}}}x20"
    cases.append({"interval": "1m",
                  "input_series": [{"series": H + _series(native, "/n"), "values": ok},
                                   {"series": H + _series(native, "/n", "500"), "values": ko}],
                  "promql_expr_test": [
                      {"expr": f'job:http_server_requests:rate5m{{job="{native}"}}', "eval_time": "15m",
                       "exp_samples": [{"labels": f'job:http_server_requests:rate5m{{job="{native}"}}', "value": 1}]},
                      {"expr": f'round(job:http_server_requests_5xx:ratio_rate5m{{job="{native}"}}, 0.0001)',
                       "eval_time": "15m", "exp_samples": [{"labels": f'{{job="{native}"}}', "value": 0.1}]},
                      {"expr": f'http_response_status_code:http_server_requests:rate5m{{job="{native}"}}',
                       "eval_time": "15m", "exp_samples": [
                           {"labels": f'http_response_status_code:http_server_requests:rate5m{{job="{native}", http_response_status_code="200"}}', "value": 0.9},
                           {"labels": f'http_response_status_code:http_server_requests:rate5m{{job="{native}", http_response_status_code="500"}}', "value": 0.1}]},
                      # The quantile comes from the native buckets: inside (1, 2].
                      {"expr": f'(job:{H}:p95_5m{{job="{native}"}} > bool 1) * (job:{H}:p95_5m{{job="{native}"}} <= bool 2)',
                       "eval_time": "15m", "exp_samples": [{"labels": f'{{job="{native}"}}', "value": 1}]},
                      {"expr": f'(http_route:{H}:p50_5m{{job="{native}"}} > bool 1) * (http_route:{H}:p50_5m{{job="{native}"}} <= bool 2)',
                       "eval_time": "15m", "exp_samples": [{"labels": f'{{job="{native}", http_route="/n"}}', "value": 1}]}]})

    # RequestsInFlightSaturating: threshold + 8 in flight for 10 minutes; then threshold - 2.
    limit = t["requests_in_flight_max"]
    high, low = limit + 8, max(0, limit - 2)
    cases.append({"interval": "1m",
                  "input_series": [{"series": f'http_server_active_requests{{job="{job}", instance="{job}:8000", http_request_method="GET"}}',
                                    "values": f"5 5 {_num(high - 15)}x10"},
                                   {"series": f'http_server_active_requests{{job="{job}", instance="{job}:8000", http_request_method="POST"}}',
                                    "values": "5 5 15x10"}],
                  "alert_rule_test": [
                      {"eval_time": "1m", "alertname": "RequestsInFlightSaturating", "exp_alerts": []},
                      {"eval_time": "10m", "alertname": "RequestsInFlightSaturating", "exp_alerts": [
                          {"exp_labels": {"severity": "warning", "service": job, "job": job, "instance": f"{job}:8000"},
                           "exp_annotations": {
                               "summary": f"{_num(high)} requests in flight on {job}:8000",
                               "description": f"{job}:8000 (job {job}) has had more than {limit:g} requests in flight "
                                              f"for 5 minutes (now {_num(high)}); its worker thread pool of 40 is close "
                                              f"to full and requests queue.",
                               "runbook_url": "/d/runbook-requestsinflightsaturating", "dashboard": OVERVIEW}}]}]})
    cases.append({"interval": "1m",
                  "input_series": [{"series": f'http_server_active_requests{{job="{job}", instance="{job}:8000", http_request_method="GET"}}',
                                    "values": f"{_num(low)}x10"}],
                  "alert_rule_test": [{"eval_time": "10m", "alertname": "RequestsInFlightSaturating", "exp_alerts": []}]})
    return cases


def _num(v: float) -> str:
    return f"{v:g}"


def tests_text(cfg: Config) -> str:
    header = HEADER + "# promtool test rules: generic/services.yml, one firing and one silent case per alert.\n"
    return yamlout.dump({
        "rule_files": ["../../rules/generic/thresholds.yml", "../../rules/generic/services.yml"],
        "evaluation_interval": "1m",
        # Recording groups first, so the alerts see this evaluation's results.
        "group_eval_order": ["vigil-thresholds", "vigil-http", "vigil-service-alerts"],
        "tests": test_cases(cfg)}, header)


def files(cfg: Config) -> dict[str, str]:
    return {RULES: rules_text(cfg), TESTS: tests_text(cfg)}
