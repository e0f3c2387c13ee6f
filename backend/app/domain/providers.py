"""Simulated LLM providers: latency, token counts, cost and failures, no network.

Failures are drawn with LLM_FAILURE_RATE, or with the per-provider rate set
through the fault-injection endpoint (see faults.py), which also adds latency.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

from .catalog import AGENTS, MODELS
from .faults import FAULTS

# How a failed call failed, with relative weights.
ERROR_TYPES = (("timeout", 3), ("rate_limited", 3), ("server_error", 3), ("parse_error", 1))


class ProviderError(Exception):
    def __init__(self, error_type: str, latency_s: float):
        super().__init__(error_type)
        self.error_type = error_type
        self.latency_s = latency_s


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float


def complete(model_name: str, agent: str, prompt: str, input_tokens: int,
             failure_rate: float, latency_scale: float, rng: random.Random = random) -> Completion:
    model = MODELS[model_name]
    fault = FAULTS.for_provider(model.provider)
    latency = model.latency_ms / 1000 * rng.lognormvariate(0, 0.35) * latency_scale
    latency += fault.extra_latency_ms / 1000
    if latency > 0:
        time.sleep(latency)
    rate = fault.failure_rate if fault.failure_rate is not None else failure_rate
    if rng.random() < rate:
        kinds, weights = zip(*ERROR_TYPES)
        raise ProviderError(rng.choices(kinds, weights)[0], latency)
    output_tokens = max(1, int(AGENTS[agent].output_tokens * rng.uniform(0.6, 1.4)))
    text = f"[{model_name}] {agent} answer to: {prompt[:200]}"
    return Completion(text, input_tokens, output_tokens, model.cost(input_tokens, output_tokens), latency)
