"""From a finished span to one normalized :class:`Observation`.

Each instrumentation writes the same facts under its own attribute names (see
DESIGN.md section 5). An *extractor* reads one dialect; :class:`Dialects` runs
the user's extractors first, then the built-in ones, and the first that
recognizes the span wins. Extractors never raise into the processor: values of
the wrong type are dropped with a rate-limited warning.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from ldai_otel import _attributes as A
from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_bad_input = RateLimitedLogger(_logger)

MODEL = "model"
TOOL = "tool"
AGENT = "agent"


@dataclass
class Observation:
    """What one GenAI span says, in one vocabulary whatever its dialect.

    Token counts, time to first token and names are ``None`` when the span
    does not carry them (which is different from zero).
    """

    kind: str
    """One of ``"model"`` (inference or embeddings), ``"tool"``, ``"agent"``."""
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    time_to_first_token_ms: Optional[float] = None
    """Milliseconds from the request to the first streamed chunk."""
    tool_name: Optional[str] = None
    """For tool spans: the executed tool's name (the toolKey)."""
    response_tool_calls: Sequence[str] = ()
    """For model spans: names of tools the model asked for, when captured."""
    model: Optional[str] = None
    provider: Optional[str] = None
    error: bool = False
    """True when the span ended with status ERROR."""
    # Filled in by the processor from the span itself, not by extractors.
    span_id: int = 0
    parent_id: int = 0
    start_ns: int = 0
    end_ns: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def has_usage(self) -> bool:
        """Whether the span carried any token count."""
        return (
            self.input_tokens is not None
            or self.output_tokens is not None
            or self.total_tokens is not None
        )


Extractor = Callable[[ReadableSpan, Mapping[str, Any]], Optional[Observation]]
"""Reads one dialect: returns an Observation, or None when the span is not its."""


def count(attrs: Mapping[str, Any], key: str) -> Optional[int]:
    """A token count from ``attrs[key]``: a finite, non-negative number, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    # bool is an int subclass; True tokens is junk, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a number, got %s", key, type(value).__name__)
        return None
    if isinstance(value, float) and not math.isfinite(value):
        _bad_input.warning("ldai-otel: ignoring attribute %s: not a finite number", key)
        return None
    if value < 0:
        _bad_input.warning("ldai-otel: ignoring attribute %s: negative value", key)
        return None
    return int(value)


def seconds_as_ms(attrs: Mapping[str, Any], key: str) -> Optional[float]:
    """A duration in seconds from ``attrs[key]``, converted to milliseconds."""
    value = count_float(attrs, key)
    return None if value is None else value * 1000.0


def count_float(attrs: Mapping[str, Any], key: str) -> Optional[float]:
    """A finite, non-negative float from ``attrs[key]``, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a number, got %s", key, type(value).__name__)
        return None
    if not math.isfinite(value) or value < 0:
        _bad_input.warning("ldai-otel: ignoring attribute %s: not a finite non-negative number", key)
        return None
    return float(value)


def text(attrs: Mapping[str, Any], key: str) -> Optional[str]:
    """A non-empty string from ``attrs[key]``, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a string, got %s", key, type(value).__name__)
        return None
    return value or None


def first_count(attrs: Mapping[str, Any], *keys: str) -> Optional[int]:
    """The first key among ``keys`` that holds a valid count."""
    for key in keys:
        value = count(attrs, key)
        if value is not None:
            return value
    return None


def first_text(attrs: Mapping[str, Any], *keys: str) -> Optional[str]:
    """The first key among ``keys`` that holds a non-empty string."""
    for key in keys:
        value = text(attrs, key)
        if value is not None:
            return value
    return None


def otel_genai(span: ReadableSpan, attrs: Mapping[str, Any]) -> Optional[Observation]:
    """OpenTelemetry GenAI semantic conventions, current and deprecated names."""
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    if operation is None:
        return None
    if operation in A.MODEL_CALL_OPERATIONS:
        return Observation(
            kind=MODEL,
            input_tokens=first_count(attrs, A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_PROMPT_TOKENS),
            output_tokens=first_count(attrs, A.GEN_AI_USAGE_OUTPUT_TOKENS, A.GEN_AI_USAGE_COMPLETION_TOKENS),
            total_tokens=first_count(attrs, A.GEN_AI_USAGE_TOTAL_TOKENS, A.LLM_USAGE_TOTAL_TOKENS),
            time_to_first_token_ms=_first_ms(
                attrs,
                A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
                A.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            ),
            model=first_text(attrs, A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL),
            provider=first_text(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM),
        )
    if operation in A.TOOL_OPERATIONS:
        return Observation(kind=TOOL, tool_name=text(attrs, A.GEN_AI_TOOL_NAME) or span.name)
    if operation in A.AGENT_OPERATIONS:
        return Observation(kind=AGENT)
    return None


def _first_ms(attrs: Mapping[str, Any], *keys: str) -> Optional[float]:
    for key in keys:
        value = seconds_as_ms(attrs, key)
        if value is not None:
            return value
    return None


BUILTIN_EXTRACTORS: tuple[Extractor, ...] = (otel_genai,)


class Dialects:
    """Runs extractors over a finished span.

    Args:
        extra_extractors: Extractors for in-house dialects, tried before the
            built-in ones. An extractor that raises is logged and skipped.
    """

    def __init__(self, extra_extractors: Sequence[Extractor] = ()):
        self._extractors = tuple(extra_extractors) + BUILTIN_EXTRACTORS

    def observe(self, span: ReadableSpan) -> Optional[Observation]:
        """Normalize ``span``; None when no extractor recognizes it."""
        attrs = span.attributes or {}
        for extractor in self._extractors:
            try:
                observation = extractor(span, attrs)
            except Exception:  # a user extractor must not break the app
                _logger.exception("ldai-otel: extractor %r failed; skipping it for this span", extractor)
                continue
            if observation is not None:
                _stamp(observation, span)
                return observation
        return None


def _stamp(observation: Observation, span: ReadableSpan) -> None:
    ctx = span.context
    observation.span_id = ctx.span_id if ctx is not None else 0
    parent = span.parent
    observation.parent_id = parent.span_id if parent is not None else 0
    observation.start_ns = span.start_time or 0
    observation.end_ns = span.end_time or observation.start_ns
    if span.status.status_code is StatusCode.ERROR:
        observation.error = True
