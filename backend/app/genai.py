"""The OpenTelemetry GenAI semantic conventions the reference app follows, pinned in this one place.

Version 1.41.0: the last set published in the core semantic-conventions repository (the GenAI conventions
moved to semantic-conventions-genai in May 2026, status Development), and what OpenLIT and LiteLLM emit.
LLM call spans: name "{gen_ai.operation.name} {gen_ai.request.model}" (e.g. "chat gpt-4o-mini"), kind
CLIENT, attributes gen_ai.operation.name, gen_ai.provider.name (replaced gen_ai.system in 1.37),
gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens, error.type on
failure. Cost is not in the conventions: the app's `llm.cost_usd` attribute is its own extension.
"""
from __future__ import annotations

SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

OPERATION_CHAT = "chat"

# The conventions' advised explicit bucket boundaries for the two client metrics.
TOKEN_USAGE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
OPERATION_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
                              81.92)

# The app's provider names -> the conventions' well-known gen_ai.provider.name values.
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini"}


def provider_name(provider: str) -> str:
    """gen_ai.provider.name for one of the app's providers ("_OTHER" is the conventions' fallback)."""
    return PROVIDER_NAMES.get(provider, "_OTHER")


def span_name(operation: str, model: str) -> str:
    return f"{operation} {model}"
