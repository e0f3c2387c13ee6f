"""LLM cost and usage (vigil-llm): spend against budget, tokens, latency, errors, cache, routing, breakers."""
from __future__ import annotations

from .build import service_var, dashboard, ds_var, panel, prom, query_var, row, thresholds

# Router token savings: red under TokenSavingsLow's 40 %, green from 70 % (seed 001's gauge).
SAVINGS = {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "yellow", "value": 0.4},
                                          {"color": "green", "value": 0.7}]}


def build() -> dict:
    s = 'job="$service", provider=~"$provider"'
    # The GenAI conventions' metrics (gen_ai_client_token_usage, gen_ai_client_operation_duration_seconds) carry
    # gen_ai_provider_name with the well-known values (gcp.gemini, ...): their own variable, so an app that only
    # sends those two over OTLP lights these panels.
    g = 'job="$service", gen_ai_provider_name=~"$gen_ai_provider"'
    j = 'job="$service"'
    ri = "$__rate_interval"
    breaker = [{"type": "value", "options": {
        "0": {"text": "closed", "color": "green", "index": 0},
        "1": {"text": "half-open", "color": "orange", "index": 1},
        "2": {"text": "open", "color": "red", "index": 2}}}]
    items = [
        row("Cost"),
        panel("timeseries", "Cost per hour by provider", "US dollars spent on LLM calls in the trailing hour, "
              "stacked by provider.",
              [prom(f"sum by (provider) (provider_model:llm_cost_usd:increase1h{{{s}}})", "{{provider}}")],
              "currencyUSD", w=9, stack=True),
        panel("gauge", "Cost in 24 h vs budget", "Dollars spent in the trailing 24 hours as a share of the daily "
              "budget (recording rule vigil:llm_daily_budget_usd:constant in prometheus/rules).",
              [prom(f"sum(job:llm_cost_usd:increase1d{{{j}}}) / scalar(vigil:llm_daily_budget_usd:constant)",
                    "of budget")], "percentunit", w=5, lo=0, hi=1.2,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 1))),
        panel("timeseries", "Cost per call by provider", "Average dollars per successful LLM call.",
              [prom(f"sum by (provider) (rate(llm_cost_usd_total{{{s}}}[{ri}])) / sum by (provider) "
                    f"(rate(llm_requests_total{{{s}, status=\"success\"}}[{ri}]))", "{{provider}}")],
              "currencyUSD", w=10, custom={"decimals": 5}),
        panel("piechart", "Cost by agent", "Share of spend per agent over the dashboard's time range.",
              [prom(f"sum by (agent) (increase(llm_cost_usd_total{{{s}}}[$__range]))", "{{agent}}",
                    instant=True)], "currencyUSD", w=8),
        panel("timeseries", "Tokens per hour by model", "Tokens used per hour (input + output), by requested "
              "model (gen_ai.client.token.usage).",
              [prom(f"sum by (gen_ai_request_model) (provider_model_token_type:gen_ai_client_token_usage:increase1h"
                    f"{{{g}}})", "{{gen_ai_request_model}}")],
              "short", w=8),
        panel("stat", "Cost in the last hour", "US dollars spent on LLM calls in the trailing hour.",
              [prom(f"sum(job:llm_cost_usd:increase1h{{{j}}})", "last hour")], "currencyUSD", w=4),
        panel("stat", "Context tokens saved", "Share of context tokens removed by the router's context "
              "minimisation before calling a model (1 h).",
              [prom(f"job:router_context_tokens_saved:ratio_rate1h{{{j}}}", "saved")], "percentunit", w=4,
              steps=SAVINGS),
        row("Calls, latency and errors"),
        panel("timeseries", "Calls per minute by agent", "LLM calls per minute (cache hits included), by agent.",
              [prom(f"sum by (agent) (rate(llm_requests_total{{{s}}}[{ri}])) * 60", "{{agent}}")], "reqpm", w=8),
        panel("timeseries", "Latency p50 / p95 by provider", "LLM call latency percentiles per provider "
              "(gen_ai.client.operation.duration).",
              [prom(f"histogram_quantile(0.5, sum by (gen_ai_provider_name, le) "
                    f"(rate(gen_ai_client_operation_duration_seconds_bucket{{{g}}}[{ri}])))",
                    "p50 {{gen_ai_provider_name}}"),
               prom(f"histogram_quantile(0.95, sum by (gen_ai_provider_name, le) "
                    f"(rate(gen_ai_client_operation_duration_seconds_bucket{{{g}}}[{ri}])))",
                    "p95 {{gen_ai_provider_name}}")], "s", w=8),
        panel("timeseries", "Error ratio by agent", "Failed LLM calls / all calls per agent (0 when none failed).",
              [prom(f"(sum by (agent) (rate(llm_requests_total{{{s}, status=\"error\"}}[{ri}])) or sum by (agent) "
                    f"(rate(llm_requests_total{{{s}}}[{ri}])) * 0) / sum by (agent) "
                    f"(rate(llm_requests_total{{{s}}}[{ri}]))", "{{agent}}")], "percentunit", w=8,
              steps=thresholds(("green", None), ("red", 0.1))),
        panel("timeseries", "Error ratio by provider", "Failed calls (circuit_open included) / all calls, "
              "per provider (5 m).",
              [prom(f"provider:llm_errors:ratio_rate5m{{{s}}}", "{{provider}}")], "percentunit", w=8,
              steps=thresholds(("green", None), ("red", 0.1))),
        panel("timeseries", "Errors by type", "Failed LLM calls per second by error type and provider.",
              [prom(f"sum by (provider, error_type) (rate(llm_errors_total{{{s}}}[{ri}]))",
                    "{{provider}} {{error_type}}")], "reqps", w=8, stack=True),
        panel("timeseries", "Cache hits and misses", "Response-cache lookups per second before an LLM call.",
              [prom(f"sum by (result) (rate(llm_cache_lookups_total{{{s}}}[{ri}]))", "{{result}}")],
              "reqps", w=8, stack=True),
        panel("stat", "Cache hit ratio", "Share of lookups answered from the cache (30 m).",
              [prom(f"job:llm_cache_hits:ratio_rate30m{{{j}}}", "hit ratio")], "percentunit", w=4),
        panel("stat", "Circuit breakers", "Provider circuit breaker state now: closed (calls flow), half-open "
              "(one trial call), open (calls fail fast with circuit_open).",
              [prom(f"max by (provider) (circuit_breaker_state{{{s}}})", "{{provider}}")], "short", w=4,
              mappings=breaker, steps=thresholds(("green", None), ("orange", 1), ("red", 2))),
        panel("heatmap", "LLM latency histogram", "Distribution of LLM call latency over time (all providers).",
              [prom(f"sum by (le) (increase(gen_ai_client_operation_duration_seconds_bucket{{{g}}}[{ri}]))", "{{le}}",
                    fmt="heatmap")], "s", w=16),
        panel("timeseries", "Circuit breaker transitions", "State changes of provider circuit breakers.",
              [prom(f"sum by (provider, to_state) (increase(circuit_breaker_transitions_total{{{s}}}[{ri}]))",
                    "{{provider}} -> {{to_state}}")], "short", w=24),
        row("Router"),
        panel("piechart", "Routing decisions by intent", "What the router classified calls as.",
              [prom(f"sum by (intent) (increase(router_decisions_total{{{j}}}[$__range]))", "{{intent}}",
                    instant=True)], w=6),
        panel("piechart", "Routing decisions by model", "Which model the router picked.",
              [prom(f"sum by (model) (increase(router_decisions_total{{{j}}}[$__range]))", "{{model}}",
                    instant=True)], w=6),
        panel("piechart", "Routing decisions by risk", "Risk level the router assigned.",
              [prom(f"sum by (risk_level) (increase(router_decisions_total{{{j}}}[$__range]))", "{{risk_level}}",
                    instant=True)], w=6),
        panel("stat", "Tokens saved per hour", "Context tokens not sent to a model thanks to minimisation.",
              [prom(f"(sum(rate(router_context_tokens_total{{{j}, stage=\"before\"}}[{ri}])) - "
                    f"sum(rate(router_context_tokens_total{{{j}, stage=\"after\"}}[{ri}]))) * 3600", "tokens/h")],
              "short", w=6),
        panel("timeseries", "Routing latency by intent", "Time the router takes to classify, pick a model and "
              "minimise the context, p50 and p95 per intent (5 m). RoutingLatencyHigh fires above "
              "vigil:routing_latency_p95_max_seconds:constant (prometheus/rules/generic/thresholds.yml).",
              [prom(f"intent:router_decision_duration_seconds:p50_5m{{{j}}}", "p50 {{intent}}"),
               prom(f"intent:router_decision_duration_seconds:p95_5m{{{j}}}", "p95 {{intent}}")], "s", w=8),
        panel("timeseries", "Token savings by intent", "Share of context tokens the router removed before the "
              "call, per intent (1 h). TokenSavingsLow watches the total.",
              [prom(f"intent:router_context_tokens_saved:ratio_rate1h{{{j}}}", "{{intent}}")], "percentunit",
              w=8, lo=0, hi=1, steps=SAVINGS),
        panel("timeseries", "LLM latency p95 by intent", "95th percentile of LLM call latency per routed intent "
              "(intent: a Vigil label on gen_ai.client.operation.duration, not in the conventions).",
              [prom(f"histogram_quantile(0.95, sum by (intent, le) "
                    f"(rate(gen_ai_client_operation_duration_seconds_bucket{{{g}}}[{ri}])))", "{{intent}}")],
              "s", w=8),
    ]
    variables = [ds_var(), service_var(),
                 query_var("provider", "Provider", 'label_values(llm_requests_total{job="$service"}, provider)',
                           "LLM providers to include (Vigil's own metrics: cost, calls, errors, cache, breakers)."),
                 query_var("gen_ai_provider", "GenAI provider",
                           'label_values(gen_ai_client_operation_duration_seconds_count{job="$service"}, '
                           'gen_ai_provider_name)',
                           "gen.ai.provider.name values to include (token and latency panels: GenAI conventions).")]
    return dashboard("vigil-llm", "What do LLM calls cost and how do they behave? Spend against budget, "
                     "tokens, latency, errors, cache, routing and circuit breakers.", ["llm", "cost"], items,
                     variables)
