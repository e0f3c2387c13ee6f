"""prometheus/rules/generic/slo.yml and its promtool tests: every service's SLOs of vigil.toml ([service.slo]).

Two SLOs per service, each counted over the service's `period`:
  availability  share of requests not answered 5xx                      objective = availability
  latency       share of requests faster than latency_threshold         objective = latency_objective
                (classic: _count minus the _bucket of le=threshold; native: histogram_fraction)

Recording rules, two groups per service (vigil-slo-<name>, and vigil-slo-<name>-period evaluated every minute), named
like Sloth's, with a `slo` label = the kind and `job`:
  slo:sli_requests:rate5m, slo:sli_errors:rate5m   requests and bad requests per second over 5 minutes, the only
                                                   rules that read raw series;
  slo:sli_error:ratio_rate<w>                      the error ratio over w = 5m 30m 1h 2h 6h 1d 3d, and
  slo:sli_error:ratio_period                       over the whole period: sum_over_time of the two recorded
                                                   5-minute rates (traffic-weighted), never days of raw counters;
  slo:objective:ratio, slo:error_budget:ratio, slo:time_period:days (and slo:latency_threshold:seconds):
                                                   the spec as series, for alerts' texts and dashboards;
  slo:current_burn_rate:ratio, slo:period_burn_rate:ratio, slo:period_error_budget_remaining:ratio.
Alerts (one rule each, for every service, reading the recorded series): multiwindow, multi-burn-rate as in the
SRE workbook ("Alerting on SLOs") and Sloth's defaults: page when 1h and 5m burn above 14.4x the budget or 6h and
30m above 6x; ticket when 1d and 2h burn above 3x or 3d and 6h above 1x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import yamlout
from .config import Config, Service
from .services import humanize_duration, humanize_percentage
from .thresholds import HEADER

RULES = "prometheus/rules/generic/slo.yml"
TESTS = "prometheus/tests/generic/slo.test.yml"
H = "http_server_request_duration_seconds"
FIVE_XX = 'http_response_status_code=~"5.."'
OVERVIEW = "/d/vigil-overview"
ALERT_GROUP = "vigil-slo-alerts"
# Every window an alert reads, then the period (its own rule: its length differs per service).
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (burn rate, long window, short window): SRE workbook, table 5-8 / Sloth's defaults.
PAGE = ((14.4, "1h", "5m"), (6, "6h", "30m"))
TICKET = ((3, "1d", "2h"), (1, "3d", "6h"))


@dataclass(frozen=True)
class Kind:
    name: str        # the `slo` label
    fast: str        # page alert
    slow: str        # ticket alert
    what: str        # a bad request, in words

    def objective(self, s: Service) -> float:
        return s.slo.availability if self.name == "availability" else s.slo.latency_objective


AVAILABILITY = Kind("availability", "ErrorBudgetBurnFast", "ErrorBudgetBurnSlow", "answered 5xx")
LATENCY = Kind("latency", "LatencyBudgetBurnFast", "LatencyBudgetBurnSlow", "slower than the latency threshold")
KINDS = (AVAILABILITY, LATENCY)


def budget(objective: float) -> float:
    """1 - objective without float noise (1 - 0.999 is 0.0010000000000000009)."""
    return round(1 - objective, 12)


def le(threshold: float) -> str:
    """The le label as Prometheus 3 stores it: the float form ("1" -> "1.0")."""
    return repr(float(threshold))


def group_name(s: Service) -> str:
    return f"vigil-slo-{s.name}"


def period_group_name(s: Service) -> str:
    return f"vigil-slo-{s.name}-period"


PERIOD_INTERVAL = "1m"


# --- rules -----------------------------------------------------------------------------------------

def _requests(job: str) -> str:
    sel = f'job="{job}"'
    return (f"sum by (job) (rate({H}_count{{{sel}}}[5m]))\n"
            f"  or sum by (job) (histogram_count(rate({H}{{{sel}}}[5m])))")


def _errors(s: Service, kind: Kind) -> str:
    sel = f'job="{s.name}"'
    if kind is AVAILABILITY:
        # Reads 0 (not "no data") while nothing has failed.
        return (f"sum by (job) (rate({H}_count{{{sel}, {FIVE_XX}}}[5m]))\n"
                f"  or sum by (job) (histogram_count(rate({H}{{{sel}, {FIVE_XX}}}[5m])))\n"
                f"  or sum by (job) (slo:sli_requests:rate5m{{{sel}, slo=\"{kind.name}\"}}) * 0")
    t = s.slo.latency_threshold
    native = f"sum by (job) (rate({H}{{{sel}}}[5m]))"
    return (f"sum by (job) (rate({H}_count{{{sel}}}[5m]))\n"
            f"  - sum by (job) (rate({H}_bucket{{{sel}, le=\"{le(t)}\"}}[5m]))\n"
            f"  or histogram_count({native})\n"
            f"    * (1 - histogram_fraction(0, {le(t)}, {native}))")


def _ratio(sel: str, window: str) -> str:
    if window == "5m":
        return f"slo:sli_errors:rate5m{{{sel}}}\n/ slo:sli_requests:rate5m{{{sel}}}"
    return (f"sum_over_time(slo:sli_errors:rate5m{{{sel}}}[{window}])\n"
            f"/ sum_over_time(slo:sli_requests:rate5m{{{sel}}}[{window}])")


def service_rules(s: Service) -> list[dict]:
    rules = []
    for kind in KINDS:
        sel = f'job="{s.name}", slo="{kind.name}"'
        # Every rule carries the labels it records (a service's rules differ from another's by them).
        labels = {"job": s.name, "slo": kind.name}
        objective = kind.objective(s)
        rules += [
            {"record": "slo:sli_requests:rate5m", "expr": _requests(s.name), "labels": labels},
            {"record": "slo:sli_errors:rate5m", "expr": _errors(s, kind), "labels": labels},
            *({"record": f"slo:sli_error:ratio_rate{w}", "expr": _ratio(sel, w), "labels": labels} for w in WINDOWS),
            # The spec as series (Sloth's metadata rules).
            {"record": "slo:objective:ratio", "expr": f"vector({objective!r})",
             "labels": labels},
            {"record": "slo:error_budget:ratio", "expr": f"vector({budget(objective)!r})",
             "labels": labels},
            {"record": "slo:time_period:days", "expr": f"vector({s.slo.period_days})",
             "labels": labels},
        ]
        if kind is LATENCY:
            rules.append({"record": "slo:latency_threshold:seconds", "expr": f"vector({float(s.slo.latency_threshold)!r})",
                          "labels": labels})
        rules += [
            {"record": "slo:current_burn_rate:ratio",
             "expr": f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ on (job, slo) slo:error_budget:ratio{{{sel}}}",
             "labels": labels},
        ]
    return rules


def period_rules(s: Service) -> list[dict]:
    """The ratio over the whole period and what follows from it: a group of its own, evaluated every minute (the
    30-day sum is the costliest read of the SLO rules, and a budget that moves once a minute is fresh enough)."""
    rules = []
    for kind in KINDS:
        sel = f'job="{s.name}", slo="{kind.name}"'
        labels = {"job": s.name, "slo": kind.name}
        rules += [
            {"record": "slo:sli_error:ratio_period", "expr": _ratio(sel, s.slo.period), "labels": labels},
            {"record": "slo:period_burn_rate:ratio",
             "expr": f"slo:sli_error:ratio_period{{{sel}}}\n/ on (job, slo) slo:error_budget:ratio{{{sel}}}",
             "labels": labels},
            # 1 = the period's whole budget left, 0 = spent, below 0 = the SLO is broken.
            {"record": "slo:period_error_budget_remaining:ratio",
             "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}", "labels": labels},
        ]
    return rules


def _over(kind: Kind, factor: float, window: str) -> str:
    rate = f"{factor:g}"
    return (f'slo:sli_error:ratio_rate{window}{{slo="{kind.name}"}}\n'
            f"  > on (job, slo) ({rate} * slo:error_budget:ratio)")


def _burn_expr(kind: Kind, pairs) -> str:
    branches = []
    for factor, long, short in pairs:
        branches.append(f"(\n  {_indent(_over(kind, factor, long))}\nand\n  {_indent(_over(kind, factor, short))}\n)")
    return "\nor\n".join(branches)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _spec(name: str, kind: Kind, fmt: str) -> str:
    """A template printing the service's recorded spec value (slo:objective:ratio ...) of this kind."""
    return (f'{{{{ with printf "{name}{{job=\'%s\', slo=\'{kind.name}\'}}" $labels.job | query }}}}'
            f"{{{{ . | first | value | {fmt} }}}}{{{{ end }}}}")


def _what(kind: Kind) -> str:
    if kind is AVAILABILITY:
        return "answered 5xx"
    return "slower than " + _spec("slo:latency_threshold:seconds", kind, "humanizeDuration")


def alerting_rules() -> list[dict]:
    rules = []
    for kind in KINDS:
        objective = _spec("slo:objective:ratio", kind, "humanizePercentage")
        allowed = _spec("slo:error_budget:ratio", kind, "humanizePercentage")
        days = _spec("slo:time_period:days", kind, 'printf "%g"')
        common = {"service": "{{ $labels.job }}", "slo": kind.name}
        rules.append({
            "alert": kind.fast, "expr": _burn_expr(kind, PAGE), "for": "2m",
            "labels": {"severity": "critical", **common},
            "annotations": {
                "summary": f"{{{{ $labels.job }}}} is burning its {kind.name} error budget fast",
                "description": f"{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.job }}}} were "
                               f"{_what(kind)} over the long window (1h or 6h); its {kind.name} objective of "
                               f"{objective} allows {allowed} over {days} days. At 14.4x (or 6x) the budget rate, "
                               f"2 % (or 5 %) of a 30-day budget burns per hour (or per 6 hours).",
                "runbook_url": f"/d/runbook-{kind.fast.lower()}", "dashboard": OVERVIEW}})
        rules.append({
            "alert": kind.slow, "expr": _burn_expr(kind, TICKET), "for": "15m",
            "labels": {"severity": "warning", **common},
            "annotations": {
                "summary": f"{{{{ $labels.job }}}} is slowly burning its {kind.name} error budget",
                "description": f"{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.job }}}} were "
                               f"{_what(kind)} over the long window (1d or 3d), more than its {kind.name} objective "
                               f"of {objective} ({allowed} over {days} days) can sustain.",
                "runbook_url": f"/d/runbook-{kind.slow.lower()}", "dashboard": OVERVIEW}})
    return rules


def rules_text(cfg: Config) -> str:
    header = (HEADER + "# Every service's SLOs ([service.slo] of vigil.toml): availability (not 5xx) and latency\n"
              "# (faster than latency_threshold), each with an objective counted over `period`.\n"
              "# Only slo:sli_requests:rate5m and slo:sli_errors:rate5m read raw series (classic OR native\n"
              "# histogram); every longer window sums those recorded 5-minute rates (sum_over_time).\n"
              "# Alerts: multiwindow, multi-burn-rate (SRE workbook; Sloth's defaults): page on 1h & 5m > 14.4x\n"
              "# or 6h & 30m > 6x the budget, ticket on 1d & 2h > 3x or 3d & 6h > 1x.\n")
    groups = []
    for s in cfg.services:
        groups += [{"name": group_name(s), "rules": service_rules(s)},
                   {"name": period_group_name(s), "interval": PERIOD_INTERVAL, "rules": period_rules(s)}]
    groups.append({"name": ALERT_GROUP, "rules": alerting_rules()})
    return yamlout.dump({"groups": groups}, header)


# --- promtool tests --------------------------------------------------------------------------------

PER_MINUTE = 1000   # requests a minute in every case


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _labels(job: str, code: str = "200", **extra) -> str:
    labels = {"job": job, "instance": f"{job}:8000", "http_request_method": "GET", "http_route": "/slo",
              "http_response_status_code": code, **extra}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _steady(s: Service, kind: Kind, ratio: float, minutes: int) -> list[dict]:
    """`ratio` of PER_MINUTE requests a minute are bad, from the start."""
    bad = ratio * PER_MINUTE
    good = PER_MINUTE - bad
    if kind is AVAILABILITY:
        return [{"series": f"{H}_count" + _labels(s.name), "values": f"0+{_fmt(good)}x{minutes}"},
                {"series": f"{H}_count" + _labels(s.name, "503"), "values": f"0+{_fmt(bad)}x{minutes}"}]
    t = le(s.slo.latency_threshold)
    return [{"series": f"{H}_bucket" + _labels(s.name, le=t), "values": f"0+{_fmt(good)}x{minutes}"},
            {"series": f"{H}_bucket" + _labels(s.name, le="+Inf"), "values": f"0+{PER_MINUTE}x{minutes}"},
            {"series": f"{H}_count" + _labels(s.name), "values": f"0+{PER_MINUTE}x{minutes}"}]


def _burst(s: Service, kind: Kind, ratio: float, clean: int, burst: int, after: int) -> list[dict]:
    """All good for `clean` minutes, then `ratio` bad for `burst` minutes, then all good for `after`; always
    PER_MINUTE requests a minute."""
    n, bad = PER_MINUTE, ratio * PER_MINUTE
    good_then = clean * n + burst * (n - bad)     # the good counter when the burst ends
    bad_then = burst * bad
    good = (f"0+{n}x{clean} {_fmt(clean * n + n - bad)}+{_fmt(n - bad)}x{burst - 1} "
            f"{_fmt(good_then + n)}+{n}x{after - 1}")
    errors = f"0x{clean} {_fmt(bad)}+{_fmt(bad)}x{burst - 1} {_fmt(bad_then)}x{after - 1}"
    total = f"0+{n}x{clean + burst + after}"
    if kind is AVAILABILITY:
        return [{"series": f"{H}_count" + _labels(s.name), "values": good},
                {"series": f"{H}_count" + _labels(s.name, "503"), "values": errors}]
    t = le(s.slo.latency_threshold)
    return [{"series": f"{H}_bucket" + _labels(s.name, le=t), "values": good},
            {"series": f"{H}_bucket" + _labels(s.name, le="+Inf"), "values": total},
            {"series": f"{H}_count" + _labels(s.name), "values": total}]


def _what_text(s: Service, kind: Kind) -> str:
    if kind is AVAILABILITY:
        return "answered 5xx"
    return "slower than " + humanize_duration(float(s.slo.latency_threshold))


def _expected(s: Service, kind: Kind, alert: str, value: float) -> dict:
    objective = kind.objective(s)
    obj, allowed, days = humanize_percentage(objective), humanize_percentage(budget(objective)), f"{s.slo.period_days:g}"
    labels = {"severity": "critical" if alert == kind.fast else "warning", "service": s.name, "job": s.name,
              "slo": kind.name}
    head = f"{humanize_percentage(value)} of the requests to {s.name} were {_what_text(s, kind)} over the long window "
    if alert == kind.fast:
        annotations = {"summary": f"{s.name} is burning its {kind.name} error budget fast",
                       "description": head + f"(1h or 6h); its {kind.name} objective of {obj} allows {allowed} over "
                                             f"{days} days. At 14.4x (or 6x) the budget rate, 2 % (or 5 %) of a 30-day "
                                             f"budget burns per hour (or per 6 hours)."}
    else:
        annotations = {"summary": f"{s.name} is slowly burning its {kind.name} error budget",
                       "description": head + f"(1d or 3d), more than its {kind.name} objective of {obj} ({allowed} "
                                             f"over {days} days) can sustain."}
    return {"exp_labels": labels,
            "exp_annotations": {**annotations, "runbook_url": f"/d/runbook-{alert.lower()}", "dashboard": OVERVIEW}}


def _check(alert: str, at: str, *expected: dict) -> dict:
    return {"eval_time": at, "alertname": alert, "exp_alerts": list(expected)}


def service_cases(s: Service) -> list[dict]:
    cases = []
    for kind in KINDS:
        b = budget(kind.objective(s))
        worst = min(20 * b, 1.0)            # above 14.4x: the page's first pair (config: 14.4 x budget < 1)
        sel = f'job="{s.name}", slo="{kind.name}"'
        # Above 14.4x everywhere: both pages' pairs hold; the value is the 1h ratio. The ticket fires too.
        cases.append({"interval": "1m", "input_series": _steady(s, kind, worst, 40),
                      "alert_rule_test": [
                          _check(kind.fast, "1m"),                              # not for 2m yet
                          _check(kind.fast, "30m", _expected(s, kind, kind.fast, worst)),
                          _check(kind.slow, "30m", _expected(s, kind, kind.slow, worst))]})
        # 10x: under 14.4x, over 6x: only the 6h & 30m pair pages.
        cases.append({"interval": "1m", "input_series": _steady(s, kind, 10 * b, 40),
                      "alert_rule_test": [_check(kind.fast, "30m", _expected(s, kind, kind.fast, 10 * b))]})
        # 4x: no page (under 6x), a ticket from 1d & 2h (over 3x).
        cases.append({"interval": "1m", "input_series": _steady(s, kind, 4 * b, 60),
                      "alert_rule_test": [
                          _check(kind.fast, "50m"),
                          _check(kind.slow, "10m"),                             # not for 15m yet
                          _check(kind.slow, "50m", _expected(s, kind, kind.slow, 4 * b))]})
        # 2x: under 3x, so only the 3d & 6h pair tickets; its value is the 3d ratio.
        cases.append({"interval": "1m", "input_series": _steady(s, kind, 2 * b, 60),
                      "alert_rule_test": [_check(kind.slow, "50m", _expected(s, kind, kind.slow, 2 * b))]})
        # Half the budget rate: nothing; the metadata series; half the period's budget left.
        cases.append({"interval": "1m", "input_series": _steady(s, kind, b / 2, 60),
                      "alert_rule_test": [_check(kind.fast, "50m"), _check(kind.slow, "50m")],
                      "promql_expr_test": [
                          {"expr": f"round(slo:period_error_budget_remaining:ratio{{{sel}}}, 0.0001)",
                           "eval_time": "50m", "exp_samples": [{"labels": f"{{{sel}}}", "value": 0.5}]},
                          {"expr": f"round(slo:current_burn_rate:ratio{{{sel}}}, 0.0001)",
                           "eval_time": "50m", "exp_samples": [{"labels": f"{{{sel}}}", "value": 0.5}]},
                          {"expr": f"slo:objective:ratio{{{sel}}}", "eval_time": "50m",
                           "exp_samples": [{"labels": f"slo:objective:ratio{{{sel}}}", "value": kind.objective(s)}]},
                          {"expr": f"slo:error_budget:ratio{{{sel}}}", "eval_time": "50m",
                           "exp_samples": [{"labels": f"slo:error_budget:ratio{{{sel}}}", "value": b}]},
                          {"expr": f"slo:time_period:days{{{sel}}}", "eval_time": "50m",
                           "exp_samples": [{"labels": f"slo:time_period:days{{{sel}}}",
                                            "value": s.slo.period_days}]}]})
        # 6 clean hours, then `worst` for 70 minutes, then clean again: the 1h and 5m ratios are over 14.4x,
        # the 6h one under 6x (20 x 70/360 < 6): only the 1h & 5m pair pages, with the 1h ratio (the 1h
        # window lies inside the burst). Ten clean minutes after it, the 5m ratio is 0: the page resolves
        # although the 1h and 30m ratios are still high.
        clean, burst = 360, 70
        cases.append({"interval": "1m", "input_series": _burst(s, kind, worst, clean, burst, 20),
                      "alert_rule_test": [
                          _check(kind.fast, f"{clean}m"),
                          _check(kind.fast, f"{clean + burst}m", _expected(s, kind, kind.fast, worst)),
                          _check(kind.fast, f"{clean + burst + 10}m")],
                      "promql_expr_test": [
                          # What keeps the 6h & 30m pair silent: the 6h ratio is under 6x.
                          {"expr": f"slo:sli_error:ratio_rate6h{{{sel}}} < bool on (job, slo) (6 * slo:error_budget:ratio)",
                           "eval_time": f"{clean + burst}m", "exp_samples": [{"labels": f"{{{sel}}}", "value": 1}]}]})
    return cases


def native_case(s: Service) -> dict:
    """The same SLIs from a native (exponential, schema 0) histogram, as OTLP pushes it: 60 requests a minute,
    6 of them 5xx (fast), 9 slow ones (in a bucket above latency_threshold), the rest fast (in a bucket up
    to it). Bucket i of schema 0 holds (2^(i-1), 2^i]."""
    t = float(s.slo.latency_threshold)
    fast = math.floor(math.log2(t))          # its upper bound 2^fast <= t
    slow = math.ceil(math.log2(t)) + 1       # its lower bound 2^(slow-1) >= t
    def hist(n_fast: int, n_slow: int) -> str:
        buckets = [n_fast] + [0] * (slow - fast - 1) + [n_slow]
        return (f"{{{{schema:0 sum:{n_fast * t / 2 + n_slow * 2 * t:g} count:{n_fast + n_slow} offset:{fast} "
                f"buckets:[{' '.join(str(b) for b in buckets)}]}}}}")
    zero = "{{schema:0 sum:0 count:0}}"
    return {"interval": "1m",
            "input_series": [{"series": H + _labels(s.name), "values": f"{zero}+{hist(45, 9)}x20"},
                             {"series": H + _labels(s.name, "500"), "values": f"{zero}+{hist(6, 0)}x20"}],
            "promql_expr_test": [
                {"expr": f'round(slo:sli_error:ratio_rate{w}{{job="{s.name}"}}, 0.0001)', "eval_time": "15m",
                 "exp_samples": [{"labels": f'{{job="{s.name}", slo="availability"}}', "value": 0.1},
                                 {"labels": f'{{job="{s.name}", slo="latency"}}', "value": 0.15}]}
                for w in ("5m", "1h")]}


def tests_text(cfg: Config) -> str:
    header = HEADER + ("# promtool test rules: generic/slo.yml. For every service and both SLOs, each alert fires\n"
                       "# from the pair of windows it should and stays silent below its burn rate.\n"
                       f"# Inputs: {PER_MINUTE} requests a minute, a share of them bad (5xx, or in no bucket up to\n"
                       "# latency_threshold); the shares are multiples of the service's error budget.\n")
    cases = [case for s in cfg.services for case in service_cases(s)] + [native_case(cfg.services[0])]
    return yamlout.dump({
        "rule_files": ["../../rules/generic/slo.yml"],
        "evaluation_interval": "1m",
        # Each service's recording group first, so the alerts see this evaluation's results.
        "group_eval_order": [g for s in cfg.services for g in (group_name(s), period_group_name(s))] + [ALERT_GROUP],
        "tests": cases}, header)


def files(cfg: Config) -> dict[str, str]:
    return {RULES: rules_text(cfg), TESTS: tests_text(cfg)}
