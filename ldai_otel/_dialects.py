"""From a finished span to one normalized :class:`Observation`.

Each instrumentation writes the same facts under its own attribute names (see
DESIGN.md section 5 and docs/dialects.md): the OpenTelemetry GenAI conventions
(current and deprecated names), OpenInference, OpenLLMetry (new and legacy),
pydantic-ai, logfire and the Vercel AI SDK. An *extractor* reads a span;
:class:`Dialects` runs the user's extractors first, then the built-in one, and
the first that recognizes the span wins.

The built-in extractor first classifies the span (model call, tool, agent) by
whichever dialect marks it, then reads each fact from every spelling it is
known by, so a span that mixes dialects (pydantic-ai writes both
``gen_ai.provider.name`` and ``gen_ai.system``; OpenLLMetry writes
``gen_ai.usage.input_tokens`` next to ``llm.usage.total_tokens``) is read
whole. Extractors never raise into the processor: values of the wrong type
are dropped with a rate-limited warning.

The processor calls :meth:`Dialects.observe` for every run span at
``on_end``, so the common path is a few dictionary lookups; JSON is parsed
only when a response says it asked for tools, and span events are scanned
only for model calls that have no time-to-first-token attribute.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from ldai_otel import _attributes as A
from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_bad_input = RateLimitedLogger(_logger)

MODEL = "model"
TOOL = "tool"
AGENT = "agent"

# Which dialect marked the span's class (Observation.dialect).
OTEL_GENAI = "otel-genai"
OPENINFERENCE = "openinference"
OPENLLMETRY = "openllmetry"
OPENLLMETRY_LEGACY = "openllmetry-legacy"
VERCEL_AI = "vercel-ai"

_MAX_EVENTS_SCANNED = 256
"""Span events looked at for a first-chunk event; they come first when present."""
_MAX_JSON_CHARS = 1 << 20
"""Output messages longer than this are not parsed for tool calls."""
_MAX_CHOICES = 4
_MAX_TOOL_CALLS = 32


@dataclass
class Observation:
    """What one GenAI span says, in one vocabulary whatever its dialect.

    Token counts, time to first token and names are ``None`` when the span
    does not carry them (which is different from zero).
    """

    kind: str
    """One of ``"model"`` (inference or embeddings), ``"tool"``, ``"agent"``."""
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
    # Filled in by Dialects.observe from the span itself, not by extractors.
    span_id: int = 0
    parent_id: int = 0
    start_ns: int = 0
    end_ns: int = 0
    extra: dict = field(default_factory=dict)

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


# --- Validation helpers: junk in, None out, never an exception. -----------


def count(attrs: Mapping[str, Any], key: str) -> int | None:
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


def seconds_as_ms(attrs: Mapping[str, Any], key: str) -> float | None:
    """A duration in seconds from ``attrs[key]``, converted to milliseconds."""
    value = count_float(attrs, key)
    return None if value is None else value * 1000.0


def count_float(attrs: Mapping[str, Any], key: str) -> float | None:
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


def text(attrs: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string from ``attrs[key]``, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a string, got %s", key, type(value).__name__)
        return None
    return value or None


def first_count(attrs: Mapping[str, Any], *keys: str) -> int | None:
    """The first key among ``keys`` that holds a valid count."""
    for key in keys:
        value = count(attrs, key)
        if value is not None:
            return value
    return None


def first_text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    """The first key among ``keys`` that holds a non-empty string."""
    for key in keys:
        value = text(attrs, key)
        if value is not None:
            return value
    return None


def first_seconds_as_ms(attrs: Mapping[str, Any], *keys: str) -> float | None:
    """The first key among ``keys`` that holds a valid duration in seconds, in ms."""
    for key in keys:
        value = seconds_as_ms(attrs, key)
        if value is not None:
            return value
    return None


def first_float(attrs: Mapping[str, Any], *keys: str) -> float | None:
    """The first key among ``keys`` that holds a finite, non-negative number."""
    for key in keys:
        value = count_float(attrs, key)
        if value is not None:
            return value
    return None


# --- Classification. ---------------------------------------------------------


def classify(attrs: Mapping[str, Any]) -> tuple[str, str] | None:
    """The span's class and the dialect that marks it, or None for other spans.

    Args:
        attrs: The span's attributes.

    Returns:
        ``(kind, dialect)``, kind one of :data:`MODEL`, :data:`TOOL`,
        :data:`AGENT`; None when no dialect marks the span as GenAI.
    """
    for key, dialect, kinds in _MARKERS:
        value = attrs.get(key)
        if isinstance(value, str):
            for values, kind in kinds:
                if value in values:
                    return kind, dialect
    return None


# Which attribute marks a span as GenAI in each dialect, and which of its
# values mean which span class; tried in this order, the first match wins.
_MARKERS = (
    (
        A.GEN_AI_OPERATION_NAME,
        OTEL_GENAI,
        ((A.MODEL_CALL_OPERATIONS, MODEL), (A.TOOL_OPERATIONS, TOOL), (A.AGENT_OPERATIONS, AGENT)),
    ),
    (
        A.OPENINFERENCE_SPAN_KIND,
        OPENINFERENCE,
        (
            (A.OPENINFERENCE_MODEL_KINDS, MODEL),
            (A.OPENINFERENCE_TOOL_KINDS, TOOL),
            (A.OPENINFERENCE_AGENT_KINDS, AGENT),
        ),
    ),
    (A.LLM_REQUEST_TYPE, OPENLLMETRY_LEGACY, ((A.LEGACY_MODEL_REQUEST_TYPES, MODEL),)),
    (A.TRACELOOP_SPAN_KIND, OPENLLMETRY, ((A.TRACELOOP_TOOL_KINDS, TOOL), (A.TRACELOOP_AGENT_KINDS, AGENT))),
    (
        A.AI_OPERATION_ID,
        VERCEL_AI,
        ((A.AI_MODEL_CALL_OPERATIONS, MODEL), (A.AI_TOOL_OPERATIONS, TOOL), (A.AI_AGENT_OPERATIONS, AGENT)),
    ),
)


MARKER_KEYS = frozenset(key for key, _, _ in _MARKERS)
"""Attribute keys of which a span must carry one for :func:`classify` to mark it."""


# --- Facts, each read from every spelling it is known by. -----------------


def _input_tokens(attrs: Mapping[str, Any]) -> int | None:
    return first_count(
        attrs,
        A.GEN_AI_USAGE_INPUT_TOKENS,
        A.GEN_AI_USAGE_PROMPT_TOKENS,
        A.LLM_TOKEN_COUNT_PROMPT,
        A.AI_USAGE_INPUT_TOKENS,
        A.AI_USAGE_PROMPT_TOKENS,
        A.AI_USAGE_TOKENS,
    )


def _output_tokens(attrs: Mapping[str, Any]) -> int | None:
    return first_count(
        attrs,
        A.GEN_AI_USAGE_OUTPUT_TOKENS,
        A.GEN_AI_USAGE_COMPLETION_TOKENS,
        A.LLM_TOKEN_COUNT_COMPLETION,
        A.AI_USAGE_OUTPUT_TOKENS,
        A.AI_USAGE_COMPLETION_TOKENS,
    )


def _total_tokens(attrs: Mapping[str, Any]) -> int | None:
    return first_count(
        attrs,
        A.GEN_AI_USAGE_TOTAL_TOKENS,
        A.LLM_USAGE_TOTAL_TOKENS,
        A.LLM_TOKEN_COUNT_TOTAL,
        A.AI_USAGE_TOTAL_TOKENS,
    )


def _read_subsets(observation: Observation, attrs: Mapping[str, Any]) -> None:
    observation.cache_read_tokens = first_count(
        attrs,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        A.GEN_AI_USAGE_INPUT_TOKENS_CACHED,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_LEGACY,
        A.LLM_TOKEN_COUNT_PROMPT_CACHE_READ,
        A.AI_USAGE_CACHED_INPUT_TOKENS,
    )
    observation.cache_write_tokens = first_count(
        attrs,
        A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        A.GEN_AI_USAGE_INPUT_TOKENS_CACHE_WRITE,
        A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_LEGACY,
        A.LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE,
    )
    observation.reasoning_tokens = first_count(
        attrs,
        A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        A.GEN_AI_USAGE_OUTPUT_TOKENS_REASONING,
        A.GEN_AI_USAGE_REASONING_TOKENS,
        A.LLM_USAGE_REASONING_TOKENS,
        A.LLM_TOKEN_COUNT_COMPLETION_REASONING,
        A.AI_USAGE_REASONING_TOKENS,
    )


_FIRST_CHUNK_EVENTS = frozenset(
    {
        A.FIRST_TOKEN_STREAM_EVENT,
        A.GEN_AI_CONTENT_COMPLETION_CHUNK_EVENT,
        A.LLM_CONTENT_COMPLETION_CHUNK_EVENT,
    }
)


def _time_to_first_token_ms(span: ReadableSpan, attrs: Mapping[str, Any]) -> float | None:
    """From an attribute (seconds or ms, per dialect), else a first-chunk event."""
    ms = first_seconds_as_ms(
        attrs,
        A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        A.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    )
    if ms is not None:
        return ms
    ms = first_float(attrs, A.AI_RESPONSE_MS_TO_FIRST_CHUNK, A.AI_STREAM_MS_TO_FIRST_CHUNK)
    if ms is not None:
        return ms
    events = span.events
    if not events:
        return None
    start = span.start_time
    if not isinstance(start, int):
        return None
    scanned = 0
    for event in events:
        if event.name in _FIRST_CHUNK_EVENTS:
            timestamp = event.timestamp
            if isinstance(timestamp, int) and timestamp >= start:
                return (timestamp - start) / 1_000_000.0
            return None
        scanned += 1
        if scanned >= _MAX_EVENTS_SCANNED:
            break
    return None


def _indexed_keys(prefix: str, infix: str, suffix: str) -> tuple[tuple[str, ...], ...]:
    """``prefix<i>infix<j>suffix`` for the first choices and tool calls, built once."""
    return tuple(
        tuple(prefix + str(i) + infix + str(j) + suffix for j in range(_MAX_TOOL_CALLS)) for i in range(_MAX_CHOICES)
    )


_OPENINFERENCE_TOOL_CALL_KEYS = _indexed_keys(
    A.LLM_OUTPUT_MESSAGES_PREFIX,
    A.MESSAGE_TOOL_CALLS_INFIX,
    A.TOOL_CALL_FUNCTION_NAME_SUFFIX,
)
_LEGACY_TOOL_CALL_KEYS = _indexed_keys(A.GEN_AI_COMPLETION_PREFIX, A.TOOL_CALLS_INFIX, A.NAME_SUFFIX)
# OpenInference google-genai writes automatic function calling's calls without
# the llm.output_messages.<i>. prefix (one list, not one per choice).
_OPENINFERENCE_AFC_TOOL_CALL_KEYS = (
    tuple(A.MESSAGE_TOOL_CALLS_PREFIX + str(j) + A.TOOL_CALL_FUNCTION_NAME_SUFFIX for j in range(_MAX_TOOL_CALLS)),
)


def _indexed_names(attrs: Mapping[str, Any], table: tuple[tuple[str, ...], ...]) -> list[str]:
    names: list[str] = []
    for keys in table:
        for key in keys:
            name = attrs.get(key)
            if name is None:
                break
            if isinstance(name, str) and name:
                names.append(name)
    return names


def _json_list(attrs: Mapping[str, Any], key: str, mark: str) -> list | None:
    """``attrs[key]`` parsed as a JSON list, only when it contains ``mark``."""
    raw = attrs.get(key)
    if not isinstance(raw, str) or mark not in raw:
        return None
    if len(raw) > _MAX_JSON_CHARS:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        _bad_input.warning("ldai-otel: ignoring attribute %s: not valid JSON", key)
        return None
    return parsed if isinstance(parsed, list) else None


def _response_tool_calls(attrs: Mapping[str, Any], dialect: str) -> list[str]:
    """Names of the tools a model response asked for, when the span captured them."""
    names: list[str] = []
    messages = _json_list(attrs, A.GEN_AI_OUTPUT_MESSAGES, A.TOOL_CALL_MARK)
    if messages:
        # Semconv parts: [{"role": ..., "parts": [{"type": "tool_call", "name": ...}]}]
        for message in messages:
            parts = message.get(A.PARTS_FIELD) if isinstance(message, dict) else None
            if not isinstance(parts, list):
                continue
            for part in parts:
                if isinstance(part, dict) and part.get(A.PART_TYPE_FIELD) == A.TOOL_CALL_MARK:
                    name = part.get(A.PART_NAME_FIELD)
                    if isinstance(name, str) and name:
                        names.append(name)
        if names:
            return names
    if dialect == OPENINFERENCE:
        return _indexed_names(attrs, _OPENINFERENCE_TOOL_CALL_KEYS) or _indexed_names(
            attrs, _OPENINFERENCE_AFC_TOOL_CALL_KEYS
        )
    if dialect == OPENLLMETRY_LEGACY:
        return _indexed_names(attrs, _LEGACY_TOOL_CALL_KEYS)
    if dialect == VERCEL_AI:
        calls = _json_list(attrs, A.AI_RESPONSE_TOOL_CALLS, A.AI_TOOL_NAME_FIELD)
        for call in calls or ():
            name = call.get(A.AI_TOOL_NAME_FIELD) if isinstance(call, dict) else None
            if isinstance(name, str) and name:
                names.append(name)
    return names


def _openinference_model(attrs: Mapping[str, Any]) -> str | None:
    """The model from ``llm.invocation_parameters`` (OpenInference error spans lack llm.model_name)."""
    raw = attrs.get(A.LLM_INVOCATION_PARAMETERS)
    if not isinstance(raw, str) or len(raw) > _MAX_JSON_CHARS:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    model = parsed.get(A.INVOCATION_MODEL_FIELD) if isinstance(parsed, dict) else None
    return model if isinstance(model, str) and model else None


def _model_call(span: ReadableSpan, attrs: Mapping[str, Any], dialect: str) -> Observation:
    observation = Observation(
        kind=MODEL,
        dialect=dialect,
        input_tokens=_input_tokens(attrs),
        output_tokens=_output_tokens(attrs),
        total_tokens=_total_tokens(attrs),
        time_to_first_token_ms=_time_to_first_token_ms(span, attrs),
        model=first_text(
            attrs,
            A.GEN_AI_REQUEST_MODEL,
            A.GEN_AI_RESPONSE_MODEL,
            A.LLM_MODEL_NAME,
            A.EMBEDDING_MODEL_NAME,
            A.AI_MODEL_ID,
        ),
        provider=first_text(
            attrs,
            A.GEN_AI_PROVIDER_NAME,
            A.GEN_AI_SYSTEM,
            A.LLM_PROVIDER,
            A.LLM_SYSTEM,
            A.AI_MODEL_PROVIDER,
        ),
    )
    _read_subsets(observation, attrs)
    if observation.model is None and dialect == OPENINFERENCE:
        observation.model = _openinference_model(attrs)
    observation.response_tool_calls = _response_tool_calls(attrs, dialect)
    if attrs.get(A.LOGFIRE_SPAN_TYPE) == A.LOGFIRE_SPAN_TYPE_LOG:
        # logfire ends a streamed call's span at once and logs the stream's
        # usage and length later on a zero-length span: stretch it back.
        observation.reported_duration_ms = seconds_as_ms(attrs, A.LOGFIRE_DURATION)
    return observation


def _agent(attrs: Mapping[str, Any], dialect: str) -> Observation:
    # pydantic-ai writes its children's sum under gen_ai.aggregated_usage.*;
    # others (Vercel's outer spans, OpenInference agents) under the usual keys.
    # Either way it is an aggregate, used only when no model call had usage.
    input_tokens = count(attrs, A.GEN_AI_AGGREGATED_USAGE_INPUT_TOKENS)
    output_tokens = count(attrs, A.GEN_AI_AGGREGATED_USAGE_OUTPUT_TOKENS)
    if input_tokens is None and output_tokens is None:
        input_tokens = _input_tokens(attrs)
        output_tokens = _output_tokens(attrs)
        total_tokens = _total_tokens(attrs)
    else:
        total_tokens = None
    return Observation(
        kind=AGENT,
        dialect=dialect,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
    )


def genai_span(span: ReadableSpan, attrs: Mapping[str, Any]) -> Observation | None:
    """The built-in extractor: every dialect of DESIGN.md section 5.

    Args:
        span: The finished span.
        attrs: Its attributes.

    Returns:
        The span's observation, or None when it is not a GenAI span.
    """
    classified = classify(attrs)
    if classified is None:
        return None
    kind, dialect = classified
    if kind == MODEL:
        return _model_call(span, attrs, dialect)
    if kind == TOOL:
        name = first_text(attrs, A.GEN_AI_TOOL_NAME, A.TOOL_NAME, A.AI_TOOL_CALL_NAME, A.TRACELOOP_ENTITY_NAME)
        return Observation(kind=TOOL, dialect=dialect, tool_name=name or span.name)
    return _agent(attrs, dialect)


BUILTIN_EXTRACTORS: tuple[Extractor, ...] = (genai_span,)


class Dialects:
    """Runs extractors over a finished span.

    Args:
        extra_extractors: Extractors for in-house dialects, tried before the
            built-in ones. An extractor that raises is logged and skipped.
    """

    def __init__(self, extra_extractors: Sequence[Extractor] = ()):
        self._extractors = tuple(extra_extractors) + BUILTIN_EXTRACTORS
        self._only_builtin = not extra_extractors

    def may_observe(self, span: ReadableSpan) -> bool:
        """Whether :meth:`observe` could recognize ``span``: a cheap pre-check.

        With only the built-in extractor, a span carrying none of the marker
        keys is no GenAI span, so it need not be kept to be read later.
        """
        if not self._only_builtin:
            return True
        attributes = span.attributes
        return bool(attributes) and not MARKER_KEYS.isdisjoint(attributes)

    def observe(self, span: ReadableSpan) -> Observation | None:
        """Normalize ``span``; None when no extractor recognizes it."""
        # One copy into a plain dict: the SDK's attribute mapping answers each
        # missing key with a raised KeyError, and extractors probe many keys.
        attrs = dict(span.attributes or {})
        for extractor in self._extractors:
            try:
                observation = extractor(span, attrs)
            except Exception:  # a user extractor must not break the app
                _logger.exception("ldai-otel: extractor %r failed; skipping it for this span", extractor)
                continue
            if observation is not None:
                _stamp(observation, span, attrs)
                return observation
        return None


def _stamp(observation: Observation, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
    ctx = span.context
    observation.span_id = ctx.span_id if ctx is not None else 0
    parent = span.parent
    observation.parent_id = parent.span_id if parent is not None else 0
    start = span.start_time or 0
    end = span.end_time or start
    reported = observation.reported_duration_ms
    if reported is not None and isinstance(end, int) and end > 0:
        start = max(0, min(start, end - int(reported * 1_000_000)))
    observation.start_ns = start
    observation.end_ns = end
    if span.status.status_code is StatusCode.ERROR:
        observation.error = True
    else:
        # error.type without an ERROR status still means the call failed
        # (the conventions set it only on failure); its value may be junk.
        error_type = attrs.get(A.ERROR_TYPE)
        if isinstance(error_type, str) and error_type:
            observation.error = True
