"""What the service knows: models and their prices (prices.toml) and its agents.

Both are closed sets, so they are safe as metric labels; requests naming
anything else are refused with 422.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

PRICES_FILE = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True)
class Model:
    name: str
    provider: str
    input_per_mtok: float
    output_per_mtok: float
    latency_ms: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def load_models(path: Path = PRICES_FILE) -> dict[str, Model]:
    with open(path, "rb") as f:
        table = tomllib.load(f)["models"]
    return {name: Model(name=name, **spec) for name, spec in table.items()}


MODELS = load_models()
PROVIDERS = tuple(sorted({m.provider for m in MODELS.values()}))


@dataclass(frozen=True)
class Agent:
    name: str
    intent: str          # what the router classifies this agent's work as
    output_tokens: int   # typical answer size


AGENTS = {a.name: a for a in (
    Agent("planner", "planning", 300),
    Agent("researcher", "research", 900),
    Agent("writer", "generation", 1200),
    Agent("reviewer", "review", 400),
    Agent("summarizer", "summarization", 250),
    Agent("coder", "code", 1000),
)}
DEFAULT_PIPELINE = ("planner", "researcher", "writer", "reviewer")
