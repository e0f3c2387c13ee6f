"""The router step run before every LLM call.

It classifies the intent, assigns a risk level, picks the model (unless the
step named one) and minimises the context: instead of every tool description
and the whole history, the call gets the tools relevant to the intent and the
tail of the previous step's output. Tokens are estimated at four characters each.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .catalog import AGENTS, MODELS

TOOL_CATALOGUE = 30       # tools the agents know of ...
TOOLS_PER_INTENT = 4      # ... of which one intent needs a handful
TOKENS_PER_TOOL = 120
HISTORY_TAIL_TOKENS = 400

_HIGH_RISK = re.compile(r"\b(payment|refund|delete|legal|contract|medical|password|salary)\b", re.I)
_MEDIUM_RISK = re.compile(r"\b(customer|price|publish|email|production|invoice)\b", re.I)
_INTENT_HINTS = (("summar", "summarization"), ("review", "review"), ("code", "code"),
                 ("research", "research"), ("plan", "planning"))

# Model chosen per intent when the step names none; high risk takes the stronger one.
_DEFAULT_MODEL = {
    "planning": ("gpt-4o-mini", "claude-sonnet-4-5"),
    "research": ("gemini-2.5-flash", "gemini-2.5-pro"),
    "generation": ("claude-haiku-4-5", "claude-sonnet-4-5"),
    "review": ("gpt-4o-mini", "gpt-4.1"),
    "summarization": ("gemini-2.5-flash", "claude-haiku-4-5"),
    "code": ("gpt-4.1", "claude-opus-4-1"),
}


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


@dataclass(frozen=True)
class Decision:
    intent: str
    risk_level: str
    model: str
    context_tokens_before: int
    context_tokens_after: int


def route(agent: str, prompt: str, history: list[str], model: str | None = None) -> Decision:
    intent = AGENTS[agent].intent
    lowered = prompt.lower()
    for hint, hinted in _INTENT_HINTS:
        if hint in lowered and intent == "generation":
            intent = hinted
            break
    risk = "high" if _HIGH_RISK.search(prompt) else "medium" if _MEDIUM_RISK.search(prompt) else "low"
    if model is None:
        cheap, strong = _DEFAULT_MODEL[intent]
        model = strong if risk == "high" else cheap
    assert model in MODELS
    prompt_tokens = estimate_tokens(prompt)
    history_tokens = sum(estimate_tokens(h) for h in history)
    before = prompt_tokens + TOOL_CATALOGUE * TOKENS_PER_TOOL + history_tokens
    tail = min(estimate_tokens(history[-1]), HISTORY_TAIL_TOKENS) if history else 0
    after = prompt_tokens + TOOLS_PER_INTENT * TOKENS_PER_TOOL + tail
    return Decision(intent, risk, model, before, after)
