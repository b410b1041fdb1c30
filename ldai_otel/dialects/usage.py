"""Token usage on a model call's span, read from every spelling each dialect writes it under.

The built-in extractor (``dialects.reader``) reads the counts through these functions; the keys
are named once here, so a dialect's new spelling is added in one place (docs/dialects.md lists
them). Counts go through the validation rule of ``model.values``: a value that is not a count is
dropped with a rate-limited warning, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from ldai_otel.model import attributes as A
from ldai_otel.model.observation import AGENT, Observation
from ldai_otel.model.values import MAX_COUNT, count, first_count

# Each count's keys, in the order they are read, are named once in model.attributes
# (A.INPUT_TOKEN_KEYS ...): `ldai-otel inspect` checks the same keys for junk.


def input_tokens(attrs: Mapping[str, Any]) -> int | None:
    """The call's input tokens, or None when no spelling holds a valid count."""
    return first_count(attrs, *A.INPUT_TOKEN_KEYS)


def output_tokens(attrs: Mapping[str, Any]) -> int | None:
    """The call's output tokens, or None when no spelling holds a valid count."""
    return first_count(attrs, *A.OUTPUT_TOKEN_KEYS)


def total_tokens(attrs: Mapping[str, Any]) -> int | None:
    """The call's total tokens, or None when no spelling holds a valid count."""
    return first_count(attrs, *A.TOTAL_TOKEN_KEYS)


def read_subsets(observation: Observation, attrs: Mapping[str, Any]) -> None:
    """Sets the cache read, cache write and reasoning tokens of ``observation``."""
    observation.cache_read_tokens = first_count(attrs, *A.CACHE_READ_TOKEN_KEYS)
    observation.cache_write_tokens = first_count(attrs, *A.CACHE_WRITE_TOKEN_KEYS)
    observation.reasoning_tokens = first_count(attrs, *A.REASONING_TOKEN_KEYS)


def cache_inclusive_input(observation: Observation, span: ReadableSpan) -> None:
    """Adds the prompt cache back into input where the instrumentation left it out.

    Decided by instrumentation scope and provider, never from the numbers
    (see ``A.CACHE_EXCLUSIVE_INPUT_SCOPES``): LaunchDarkly's input is every
    prompt token, cached reads and writes included.
    """
    if observation.input_tokens is None or observation.provider not in A.CACHE_EXCLUSIVE_INPUT_PROVIDERS:
        return
    scope = span.instrumentation_scope
    name = scope.name if scope is not None else ""
    if not any(name == s or (s.endswith(".") and name.startswith(s)) for s in A.CACHE_EXCLUSIVE_INPUT_SCOPES):
        return
    cached = (observation.cache_read_tokens or 0) + (observation.cache_write_tokens or 0)
    if observation.input_tokens + cached > MAX_COUNT:
        return
    observation.input_tokens += cached
    # Traceloop's total is its cache-exclusive input plus output: recompute it.
    observation.total_tokens = None


def agent_usage(attrs: Mapping[str, Any], dialect: str) -> Observation:
    """An agent span's observation with the usage it reports for its children, if any.

    pydantic-ai writes its children's sum under ``gen_ai.aggregated_usage.*``;
    others (Vercel's outer spans, OpenInference agents) under the usual keys.
    Either way it is an aggregate, used only when no model call had usage.
    """
    input_count = count(attrs, A.GEN_AI_AGGREGATED_USAGE_INPUT_TOKENS)
    output_count = count(attrs, A.GEN_AI_AGGREGATED_USAGE_OUTPUT_TOKENS)
    if input_count is None and output_count is None:
        input_count = input_tokens(attrs)
        output_count = output_tokens(attrs)
        total_count = total_tokens(attrs)
    else:
        total_count = None
    return Observation(
        kind=AGENT,
        dialect=dialect,
        input_tokens=input_count,
        output_tokens=output_count,
        total_tokens=total_count,
    )
