"""One GenAI span in one vocabulary, whatever its dialect: :class:`Observation`.

The span readers (``dialects.reader``) fill it in; the rule book (``rules.book``), the call
matcher (``rules.calls``) and the graph rules (``rules.graphs``) read it. User extractors
return one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

MODEL = "model"
TOOL = "tool"
AGENT = "agent"
HANDOFF = "handoff"
"""A handoff between agents: an agent-graph edge, never a tool call."""

# Which dialect marked the span's class (Observation.dialect).
OTEL_GENAI = "otel-genai"
OPENINFERENCE = "openinference"
OPENLLMETRY = "openllmetry"
OPENLLMETRY_LEGACY = "openllmetry-legacy"
VERCEL_AI = "vercel-ai"


@dataclass
class Observation:
    """What one GenAI span says, in one vocabulary whatever its dialect.

    Token counts, time to first token and names are ``None`` when the span
    does not carry them (which is different from zero).
    """

    kind: str
    """One of ``"model"`` (inference or embeddings), ``"tool"``, ``"agent"``, ``"handoff"``."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    time_to_first_token_ms: float | None = None
    """Milliseconds from the request to the first streamed chunk."""
    tool_name: str | None = None
    """For tool spans: the executed tool's name (the toolKey)."""
    response_tool_calls: Sequence[str] = ()
    """For model spans: names of tools the model asked for, when captured."""
    model: str | None = None
    provider: str | None = None
    error: bool = False
    """True when the span ended with status ERROR or carries an ``error.type``."""
    cache_read_tokens: int | None = None
    """Input tokens read from a prompt cache: a subset of ``input_tokens``, never added."""
    cache_write_tokens: int | None = None
    """Input tokens written to a prompt cache (``cache_creation`` / ``cache_write``): a subset."""
    reasoning_tokens: int | None = None
    """Output tokens spent reasoning: a subset of ``output_tokens``, never added."""
    dialect: str = ""
    """Which dialect classified the span (``"otel-genai"``, ``"openinference"`` ...)."""
    reported_duration_ms: float | None = None
    """The call's length when an attribute reports it and the span's own
    interval is not the call's (logfire's zero-length stream log span)."""
    response_id: str | None = None
    """For model spans: the provider's response id (``gen_ai.response.id``), when written."""
    agent_name: str | None = None
    """For agent spans: ``gen_ai.agent.name``, OpenInference ``agent.name`` / ``graph.node.id``."""
    handoff_from: str | None = None
    handoff_to: str | None = None
    """For handoff spans: the agents handing off and taking over, when written."""
    # Filled in by Dialects.observe from the span itself, not by extractors.
    scope: str = ""
    """The instrumentation scope's name: spans of one scope are never one call."""
    span_id: int = 0
    parent_id: int = 0
    start_ns: int = 0
    end_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_usage(self) -> bool:
        """Whether the span carried any token count."""
        return self.input_tokens is not None or self.output_tokens is not None or self.total_tokens is not None


Extractor = Callable[[ReadableSpan, Mapping[str, Any]], Observation | None]
"""Reads one dialect: returns an Observation, or None when the span is not its.

It is called with the finished span and its attributes (read once). It may be
called for any span of a run, so it should return None fast for spans that
are not its own; an extractor that raises is logged and skipped.
"""
