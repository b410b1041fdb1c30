"""What a model response says beyond usage: tool calls asked for, response ids, models in JSON.

Read from the span's attributes in each dialect's spelling: semconv output
messages, OpenInference's flattened message keys and ``output.value`` JSON,
OpenLLMetry's legacy completion keys, the Vercel AI SDK's tool calls. JSON is
parsed only when a cheap substring check says it holds what is looked for,
and always within the bounds of :func:`~ldai_otel.model.values.bounded_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ldai_otel.model import attributes as A
from ldai_otel.model.observation import OPENINFERENCE, OPENLLMETRY_LEGACY, VERCEL_AI
from ldai_otel.model.values import MAX_NAME_CHARS, bounded_json

_MAX_CHOICES = 4
_MAX_TOOL_CALLS = 32


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


def _json_list(attrs: Mapping[str, Any], key: str, mark: str) -> list[Any] | None:
    """``attrs[key]`` parsed as a JSON list, only when it contains ``mark``."""
    raw = attrs.get(key)
    if not isinstance(raw, str) or mark not in raw:
        return None
    parsed = bounded_json(raw, key)
    return parsed if isinstance(parsed, list) else None


def response_tool_calls(attrs: Mapping[str, Any], dialect: str) -> list[str]:
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


def openinference_response_id(attrs: Mapping[str, Any]) -> str | None:
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


def openinference_model(attrs: Mapping[str, Any]) -> str | None:
    """The model from ``llm.invocation_parameters`` (OpenInference error spans lack llm.model_name)."""
    raw = attrs.get(A.LLM_INVOCATION_PARAMETERS)
    if not isinstance(raw, str):
        return None
    parsed = bounded_json(raw, A.LLM_INVOCATION_PARAMETERS)
    model = parsed.get(A.INVOCATION_MODEL_FIELD) if isinstance(parsed, dict) else None
    return model if isinstance(model, str) and model else None
