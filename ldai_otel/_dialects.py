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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from ldai_otel import _attributes as A
from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_bad_input = RateLimitedLogger(_logger)
_errors = RateLimitedLogger(_logger)

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

_MAX_EVENTS_SCANNED = 256
"""Span events looked at for a first-chunk event; they come first when present."""
MAX_JSON_CHARS = 1 << 20
"""JSON attributes (output messages, tool calls) longer than this are not parsed."""
MAX_JSON_DEPTH = 32
"""JSON attributes nested deeper than this are not parsed (real ones nest 4 or 5 deep)."""
_MAX_CHOICES = 4
_MAX_TOOL_CALLS = 32


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


# --- Validation helpers: junk in, None out, never an exception. -----------
# The one rule for every numeric fact (README "Metric rules"): a count is an
# int (not a bool) in [0, MAX_COUNT] or an integral finite float in that
# range; a time is a finite non-negative number that, in milliseconds, is at
# most MAX_TIME_MS. Anything else is ignored with a rate-limited warning that
# names the attribute, and only that fact is lost.

MAX_COUNT = 2**63 - 1
"""Largest count read: OpenTelemetry attributes are int64, a larger one is junk."""
MAX_TIME_MS = 86_400_000.0
"""Longest time read (one day, in ms): a longer time to first token or duration is junk."""
MAX_NAME_CHARS = 1024
"""Longest model, provider or tool name read: a longer one is no name."""


def valid_count(value: Any, key: str) -> int | None:
    """``value`` as a count under the rule above, or None (with a warning naming ``key``)."""
    # bool is an int subclass; True tokens is junk, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a number, got %s", key, type(value).__name__)
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        _bad_input.warning("ldai-otel: ignoring attribute %s: not a whole finite number", key)
        return None
    if value < 0:
        _bad_input.warning("ldai-otel: ignoring attribute %s: negative value", key)
        return None
    if value > MAX_COUNT:
        _bad_input.warning("ldai-otel: ignoring attribute %s: beyond the int64 range", key)
        return None
    return int(value)


def valid_ms(value: Any, key: str, scale: float = 1.0) -> float | None:
    """``value * scale`` as a time in ms under the rule above, or None (with a warning).

    Args:
        value: The attribute's value.
        key: The attribute named in the warning.
        scale: Milliseconds per unit of ``value`` (1000.0 for seconds).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a number, got %s", key, type(value).__name__)
        return None
    try:
        ms = float(value) * scale
    except OverflowError:  # an int beyond the float range
        ms = math.inf
    if not math.isfinite(ms) or ms < 0:
        _bad_input.warning("ldai-otel: ignoring attribute %s: not a finite non-negative number", key)
        return None
    if ms > MAX_TIME_MS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: longer than a day", key)
        return None
    return ms


def count(attrs: Mapping[str, Any], key: str) -> int | None:
    """A token count from ``attrs[key]`` (see :func:`valid_count`), or None."""
    value = attrs.get(key)
    return None if value is None else valid_count(value, key)


def seconds_as_ms(attrs: Mapping[str, Any], key: str) -> float | None:
    """A time in seconds from ``attrs[key]``, converted to milliseconds (see :func:`valid_ms`)."""
    value = attrs.get(key)
    return None if value is None else valid_ms(value, key, 1000.0)


def milliseconds(attrs: Mapping[str, Any], key: str) -> float | None:
    """A time in milliseconds from ``attrs[key]`` (see :func:`valid_ms`), or None."""
    value = attrs.get(key)
    return None if value is None else valid_ms(value, key)


def text(attrs: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string from ``attrs[key]``, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a string, got %s", key, type(value).__name__)
        return None
    if len(value) > MAX_NAME_CHARS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: longer than %d characters", key, MAX_NAME_CHARS)
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


def first_milliseconds(attrs: Mapping[str, Any], *keys: str) -> float | None:
    """The first key among ``keys`` that holds a valid time in milliseconds."""
    for key in keys:
        value = milliseconds(attrs, key)
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
        (
            (A.MODEL_CALL_OPERATIONS, MODEL),
            (A.TOOL_OPERATIONS, TOOL),
            (A.AGENT_OPERATIONS, AGENT),
            (A.HANDOFF_OPERATIONS, HANDOFF),
            (A.GOTO_OPERATIONS, HANDOFF),
        ),
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
    (
        A.TRACELOOP_SPAN_KIND,
        OPENLLMETRY,
        ((A.TRACELOOP_TOOL_KINDS, TOOL), (A.TRACELOOP_AGENT_KINDS, AGENT), (A.HANDOFF_OPERATIONS, HANDOFF)),
    ),
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
    ms = first_milliseconds(
        attrs, A.AI_RESPONSE_MS_TO_FIRST_CHUNK, A.AI_STREAM_MS_TO_FIRST_CHUNK, A.GEN_AI_SERVER_TIME_TO_FIRST_TOKEN
    )
    if ms is not None:
        return ms
    events = span.events
    if not events:
        return None
    start = span.start_time
    if not isinstance(start, int) or isinstance(start, bool):
        return None
    scanned = 0
    for event in events:
        if event.name in _FIRST_CHUNK_EVENTS:
            timestamp = event.timestamp
            if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= start:
                return valid_ms(timestamp - start, event.name, 1e-6)
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


# A JSON string literal, escapes included (unrolled: linear, no backtracking).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS_ONLY = str.maketrans({c: None for c in map(chr, range(128)) if c not in "[]{}"})


def json_depth(raw: str) -> int:
    """The deepest nesting of ``[]`` / ``{}`` in ``raw``, brackets inside strings not counted.

    A cheap pre-scan (two C-speed passes and a loop over the brackets alone)
    so that :func:`bounded_json` never hands the parser a document that would
    exhaust the recursion limit.
    """
    brackets = _JSON_STRING.sub("", raw).translate(_BRACKETS_ONLY)
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def bounded_json(raw: str, key: str) -> Any:
    """``raw`` parsed as JSON when it is at most :data:`MAX_JSON_CHARS` long and
    :data:`MAX_JSON_DEPTH` deep; None (with a rate-limited warning) otherwise."""
    if len(raw) > MAX_JSON_CHARS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: JSON longer than %d characters", key, MAX_JSON_CHARS)
        return None
    if json_depth(raw) > MAX_JSON_DEPTH:
        _bad_input.warning("ldai-otel: ignoring attribute %s: JSON nested deeper than %d", key, MAX_JSON_DEPTH)
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: belt and braces after the pre-scan
        _bad_input.warning("ldai-otel: ignoring attribute %s: not valid JSON", key)
        return None


def _json_list(attrs: Mapping[str, Any], key: str, mark: str) -> list[Any] | None:
    """``attrs[key]`` parsed as a JSON list, only when it contains ``mark``."""
    raw = attrs.get(key)
    if not isinstance(raw, str) or mark not in raw:
        return None
    parsed = bounded_json(raw, key)
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


def _openinference_response_id(attrs: Mapping[str, Any]) -> str | None:
    """The response id inside OpenInference's ``output.value`` JSON, which is its only record of it.

    The openai instrumentation writes the OpenAI response object (its ``id``); the
    LangChain one writes LangChain's ``LLMResult``, whose ``llm_output.id`` is the
    provider's id (absent for streams). Without it, two OpenInference spans of
    concurrent calls can be told apart only by their intervals.
    """
    raw = attrs.get(A.OUTPUT_VALUE)
    if not isinstance(raw, str) or A.RESPONSE_ID_FIELD not in raw or attrs.get(A.OUTPUT_MIME_TYPE) != A.JSON_MIME_TYPE:
        return None
    parsed = bounded_json(raw, A.OUTPUT_VALUE)
    if not isinstance(parsed, dict):
        return None
    found: Any = None
    if isinstance(parsed.get(A.OPENAI_OBJECT_FIELD), str):
        found = parsed.get(A.RESPONSE_ID_FIELD)
    elif parsed.get(A.LANGCHAIN_RESULT_TYPE_FIELD) == A.LANGCHAIN_RESULT_TYPE:
        llm_output = parsed.get(A.LANGCHAIN_LLM_OUTPUT_FIELD)
        found = llm_output.get(A.RESPONSE_ID_FIELD) if isinstance(llm_output, dict) else None
    return found if isinstance(found, str) and found and len(found) <= MAX_NAME_CHARS else None


def _openinference_model(attrs: Mapping[str, Any]) -> str | None:
    """The model from ``llm.invocation_parameters`` (OpenInference error spans lack llm.model_name)."""
    raw = attrs.get(A.LLM_INVOCATION_PARAMETERS)
    if not isinstance(raw, str):
        return None
    parsed = bounded_json(raw, A.LLM_INVOCATION_PARAMETERS)
    model = parsed.get(A.INVOCATION_MODEL_FIELD) if isinstance(parsed, dict) else None
    return model if isinstance(model, str) and model else None


def _fact(read: Callable[..., Any], what: str, *args: Any) -> Any:
    """``read(*args)``, or None when it raises: one fact lost, never the span's others."""
    try:
        return read(*args)
    except Exception:  # a reader bug or an attribute object that misbehaves
        _errors.exception("ldai-otel: reading %s from a span failed; that fact is ignored", what)
        return None


def _model(attrs: Mapping[str, Any], dialect: str) -> str | None:
    model = first_text(
        attrs,
        A.GEN_AI_REQUEST_MODEL,
        A.GEN_AI_RESPONSE_MODEL,
        A.LLM_MODEL_NAME,
        A.EMBEDDING_MODEL_NAME,
        A.AI_MODEL_ID,
    )
    if model is None and dialect == OPENINFERENCE:
        model = _openinference_model(attrs)
    return model


def _provider(attrs: Mapping[str, Any]) -> str | None:
    return first_text(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM, A.LLM_PROVIDER, A.LLM_SYSTEM, A.AI_MODEL_PROVIDER)


def _reported_duration_ms(attrs: Mapping[str, Any]) -> float | None:
    if attrs.get(A.LOGFIRE_SPAN_TYPE) != A.LOGFIRE_SPAN_TYPE_LOG:
        return None
    # logfire ends a streamed call's span at once and logs the stream's
    # usage and length later on a zero-length span: stretch it back.
    return seconds_as_ms(attrs, A.LOGFIRE_DURATION)


def _cache_inclusive_input(observation: Observation, span: ReadableSpan) -> None:
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


def _model_call(span: ReadableSpan, attrs: Mapping[str, Any], dialect: str) -> Observation:
    observation = Observation(
        kind=MODEL,
        dialect=dialect,
        input_tokens=_fact(_input_tokens, "input tokens", attrs),
        output_tokens=_fact(_output_tokens, "output tokens", attrs),
        total_tokens=_fact(_total_tokens, "total tokens", attrs),
        time_to_first_token_ms=_fact(_time_to_first_token_ms, "time to first token", span, attrs),
        model=_fact(_model, "the model", attrs, dialect),
        provider=_fact(_provider, "the provider", attrs),
    )
    _fact(_read_subsets, "cache and reasoning tokens", observation, attrs)
    observation.response_id = _fact(text, "the response id", attrs, A.GEN_AI_RESPONSE_ID)
    if observation.response_id is None and dialect == OPENINFERENCE:
        observation.response_id = _fact(_openinference_response_id, "the response id", attrs)
    _fact(_cache_inclusive_input, "cache-exclusive input", observation, span)
    observation.response_tool_calls = _fact(_response_tool_calls, "response tool calls", attrs, dialect) or ()
    observation.reported_duration_ms = _fact(_reported_duration_ms, "the stream's duration", attrs)
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
        span_name = span.name if isinstance(span.name, str) and len(span.name) <= MAX_NAME_CHARS else None
        if name is None and span_name is not None and dialect == OPENINFERENCE:
            if span_name.startswith(A.OPENINFERENCE_HANDOFF_PREFIX):
                # OpenInference openai-agents: a handoff written as a TOOL span.
                return Observation(
                    kind=HANDOFF,
                    dialect=dialect,
                    handoff_from=text(attrs, A.INPUT_VALUE),
                    handoff_to=text(attrs, A.OUTPUT_VALUE) or span_name[len(A.OPENINFERENCE_HANDOFF_PREFIX) :] or None,
                )
        return Observation(kind=TOOL, dialect=dialect, tool_name=name or span_name or None)
    if kind == HANDOFF:
        return Observation(
            kind=HANDOFF,
            dialect=dialect,
            handoff_from=first_text(attrs, A.GEN_AI_HANDOFF_FROM_AGENT, A.LANGGRAPH_COMMAND_SOURCE_NODE),
            handoff_to=first_text(attrs, A.GEN_AI_HANDOFF_TO_AGENT, A.LANGGRAPH_COMMAND_GOTO_NODE),
        )
    observation = _agent(attrs, dialect)
    if attrs.get(A.GEN_AI_OPERATION_NAME) == A.CREATE_AGENT_OPERATION:
        return observation  # names an agent it defines, not one that ran
    observation.agent_name = first_text(attrs, A.GEN_AI_AGENT_NAME, A.AGENT_NAME, A.GRAPH_NODE_ID) or _fact(
        _langgraph_node, "the LangGraph node", span, attrs
    )
    return observation


def _langgraph_node(span: ReadableSpan, attrs: Mapping[str, Any]) -> str | None:
    """The LangGraph node this span is the run of, or None (a step inside a node, or no LangGraph).

    LangChain metadata (``langgraph_node``) is inherited by every span under
    a node; only the node's own span is named after it (Traceloop's task
    name, OpenInference's span name).
    """
    node = text(attrs, A.TRACELOOP_LANGGRAPH_NODE)
    if node is not None:
        return node if node == text(attrs, A.TRACELOOP_ENTITY_NAME) else None
    metadata = attrs.get(A.OPENINFERENCE_METADATA)
    if not isinstance(metadata, str) or A.LANGGRAPH_NODE_KEY not in metadata or len(metadata) > MAX_JSON_CHARS:
        return None
    try:
        value = json.loads(metadata)
    except ValueError:  # not JSON: not LangChain's metadata
        return None
    node = value.get(A.LANGGRAPH_NODE_KEY) if isinstance(value, dict) else None
    return node if isinstance(node, str) and node and node == span.name else None


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
        return attributes is not None and bool(attributes) and not MARKER_KEYS.isdisjoint(attributes)

    def observe(self, span: ReadableSpan) -> Observation | None:
        """Normalize ``span``; None when no extractor recognizes it."""
        # One copy into a plain dict: the SDK's attribute mapping answers each
        # missing key with a raised KeyError, and extractors probe many keys.
        attrs = dict(span.attributes or {})
        for extractor in self._extractors:
            try:
                observation = extractor(span, attrs)
                if observation is not None:
                    _stamp(observation, span, attrs)
                    return observation
            except Exception:  # a user extractor must not break the app
                _errors.exception("ldai-otel: extractor %r failed; skipping it for this span", extractor)
        return None


def _stamp(observation: Observation, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
    scope = span.instrumentation_scope
    name = scope.name if scope is not None else None
    observation.scope = name if isinstance(name, str) else ""
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
