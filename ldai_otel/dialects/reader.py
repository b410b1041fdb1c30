"""From a finished span to one normalized :class:`Observation`.

Each instrumentation writes the same facts under its own attribute names (see
docs/dialects.md): the OpenTelemetry GenAI conventions
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
are dropped with a rate-limited warning. Token usage is read in
``dialects.usage``, time to first token and a stream's length in
``dialects.timing``; this module classifies the span and reads the rest.

The processor calls :meth:`Dialects.observe` for every run span at
``on_end``, so the common path is a few dictionary lookups; JSON is parsed
only when a response says it asked for tools, and span events are scanned
only for model calls that have no time-to-first-token attribute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.dialects.responses import openinference_model, openinference_response_id, response_tool_calls
from ldai_otel.dialects.timing import reported_duration_ms, time_to_first_token_ms
from ldai_otel.dialects.usage import (
    agent_usage,
    cache_inclusive_input,
    input_tokens,
    output_tokens,
    read_subsets,
    total_tokens,
)
from ldai_otel.model import attributes as A
from ldai_otel.model.observation import (
    AGENT,
    HANDOFF,
    MODEL,
    OPENINFERENCE,
    OPENLLMETRY,
    OPENLLMETRY_LEGACY,
    OTEL_GENAI,
    TOOL,
    VERCEL_AI,
    Extractor,
    Observation,
)
from ldai_otel.model.values import (
    MAX_JSON_CHARS,
    MAX_NAME_CHARS,
    first_text,
    text,
    tool_key,
)

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)

# Where each dialect names an executed tool, in order of preference.
_TOOL_NAME_KEYS = (A.GEN_AI_TOOL_NAME, A.TOOL_NAME, A.AI_TOOL_CALL_NAME, A.TRACELOOP_ENTITY_NAME)


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
        model = openinference_model(attrs)
    return model


def _provider(attrs: Mapping[str, Any]) -> str | None:
    return first_text(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM, A.LLM_PROVIDER, A.LLM_SYSTEM, A.AI_MODEL_PROVIDER)


def _model_call(span: ReadableSpan, attrs: Mapping[str, Any], dialect: str) -> Observation:
    observation = Observation(
        kind=MODEL,
        dialect=dialect,
        input_tokens=_fact(input_tokens, "input tokens", attrs),
        output_tokens=_fact(output_tokens, "output tokens", attrs),
        total_tokens=_fact(total_tokens, "total tokens", attrs),
        time_to_first_token_ms=_fact(time_to_first_token_ms, "time to first token", span, attrs),
        model=_fact(_model, "the model", attrs, dialect),
        provider=_fact(_provider, "the provider", attrs),
    )
    _fact(read_subsets, "cache and reasoning tokens", observation, attrs)
    observation.response_id = _fact(text, "the response id", attrs, A.GEN_AI_RESPONSE_ID)
    if observation.response_id is None and dialect == OPENINFERENCE:
        observation.response_id = _fact(openinference_response_id, "the response id", attrs)
    _fact(cache_inclusive_input, "cache-exclusive input", observation, span)
    observation.response_tool_calls = _fact(response_tool_calls, "response tool calls", attrs, dialect) or ()
    observation.reported_duration_ms = _fact(reported_duration_ms, "the stream's duration", attrs)
    return observation


def genai_span(span: ReadableSpan, attrs: Mapping[str, Any]) -> Observation | None:
    """The built-in extractor: every dialect of docs/dialects.md.

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
        name = first_text(attrs, *_TOOL_NAME_KEYS)
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
        # The call happened even when its name is unusable: it still counts (cut or "unknown").
        return Observation(kind=TOOL, dialect=dialect, tool_name=name or tool_key(attrs, _TOOL_NAME_KEYS, span.name))
    if kind == HANDOFF:
        return Observation(
            kind=HANDOFF,
            dialect=dialect,
            handoff_from=first_text(attrs, A.GEN_AI_HANDOFF_FROM_AGENT, A.LANGGRAPH_COMMAND_SOURCE_NODE),
            handoff_to=first_text(attrs, A.GEN_AI_HANDOFF_TO_AGENT, A.LANGGRAPH_COMMAND_GOTO_NODE),
        )
    observation = agent_usage(attrs, dialect)
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
