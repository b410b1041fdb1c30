"""The text a judge evaluates, read from a run's model-call spans.

Read only for runs whose AI Config has judges, on the emitter thread, and
never logged. The rule (docs/evaluations.md "Which text"), the way
LaunchDarkly's managed path defines the pair:

- The run's *last model call* is judged: of the model-call spans of the run's
  first segment that carry both input and output content, the one that ended
  last (in a tool loop, the call that wrote the final answer; in an agent run,
  the last call of the last agent).
- *Input* is the messages sent on that call, system and developer messages
  left out (they are the config's instructions, not the conversation): a lone
  user message is its text; a longer history is one ``role: text`` line per
  message, as ``Judge.evaluate_messages`` renders it.
- *Output* is the text of the call's answer (its output messages' text parts).

Content is read where each instrumentation puts it with content capture on:
OpenTelemetry GenAI ``gen_ai.input.messages`` / ``gen_ai.output.messages``
(JSON, under the size and depth bounds of ``model.values.bounded_json``),
OpenInference ``llm.input_messages.*`` / ``llm.output_messages.*`` (else
``input.value`` / ``output.value`` when they are plain text), Traceloop
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``, and the older content span
events ``gen_ai.content.prompt`` / ``gen_ai.content.completion``. A redacted value
(OpenInference's ``__REDACTED__``) is not content: a side with one is no side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ldai_otel.dialects.reader import classify
from ldai_otel.model.observation import MODEL
from ldai_otel.model.values import bounded_json

REDACTED = "__REDACTED__"
"""What OpenInference's hide settings write in place of content."""

GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
OI_INPUT_MESSAGES = "llm.input_messages."
OI_OUTPUT_MESSAGES = "llm.output_messages."
OI_INPUT_VALUE = "input.value"
OI_OUTPUT_VALUE = "output.value"
OI_INPUT_MIME = "input.mime_type"
OI_OUTPUT_MIME = "output.mime_type"
TRACELOOP_PROMPT = "gen_ai.prompt."
TRACELOOP_COMPLETION = "gen_ai.completion."
PROMPT_EVENT = "gen_ai.content.prompt"
PROMPT_EVENT_ATTRIBUTE = "gen_ai.prompt"
COMPLETION_EVENT = "gen_ai.content.completion"
COMPLETION_EVENT_ATTRIBUTE = "gen_ai.completion"

_LEFT_OUT_ROLES = frozenset({"system", "developer"})
_MAX_MESSAGES = 1000
"""Most indexed messages read from one span (OpenInference, Traceloop)."""

Message = tuple[str, str]
"""(role, text) of one message."""


class Redacted(Exception):
    """A side of the exchange holds redacted content: it is not judged."""


@dataclass(frozen=True)
class Exchange:
    """The pair a judge evaluates: what was asked and what was answered."""

    input: str
    output: str


@dataclass(frozen=True)
class ContentReport:
    """What reading a run's spans found; lengths only, never content.

    ``exchange`` is None with ``reason`` saying why.
    """

    exchange: Exchange | None
    reason: str = ""
    model_calls: int = 0


def read_exchange(spans: Iterable[Any], max_chars: int) -> ContentReport:
    """The pair to judge from a run's ended spans (see the module's rule).

    Args:
        spans: The run's ended spans (``ReadableSpan``), any order.
        max_chars: Most characters of either side; a longer side is not judged.
    """
    best: tuple[int, Exchange] | None = None
    calls = 0
    redacted = too_long = False
    for span in spans:
        attrs = span.attributes
        if not attrs:
            continue
        marked = classify(attrs)
        if marked is None or marked[0] != MODEL:
            continue
        calls += 1
        try:
            exchange = span_exchange(attrs) or event_exchange(span.events)
        except Redacted:
            redacted = True
            continue
        if exchange is None:
            continue
        if len(exchange.input) > max_chars or len(exchange.output) > max_chars:
            too_long = True
            continue
        end = span.end_time or 0
        if best is None or end >= best[0]:
            best = (end, exchange)
    if best is not None:
        return ContentReport(best[1], model_calls=calls)
    if calls == 0:
        return ContentReport(None, "no model-call span in the run")
    if redacted:
        return ContentReport(None, "content is redacted", calls)
    if too_long:
        return ContentReport(None, "content longer than max_evaluation_chars", calls)
    return ContentReport(None, "no message content on the model-call spans (content capture is off)", calls)


def span_exchange(attrs: Mapping[str, Any]) -> Exchange | None:
    """The pair one model-call span carries, or None.

    Raises:
        Redacted: A side is redacted.
    """
    for read in (_otel_genai, _openinference, _traceloop):
        pair = read(attrs)
        if pair is None:
            continue
        inputs, outputs = pair
        input_text = render_input(inputs)
        output_text = "\n".join(text for _, text in outputs if text)
        if input_text and output_text:
            return Exchange(input_text, output_text)
    return None


def event_exchange(events: Sequence[Any] | None) -> Exchange | None:
    """The pair in the older content span events: ``gen_ai.content.prompt`` (``gen_ai.prompt``)
    and ``gen_ai.content.completion`` (``gen_ai.completion``), each a JSON list of
    ``{"role", "content"}`` messages.

    Raises:
        Redacted: A side is redacted.
    """
    if not events:
        return None
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in events[:_MAX_MESSAGES]:
        name = getattr(event, "name", None)
        if name == PROMPT_EVENT:
            inputs = _event_messages(event, PROMPT_EVENT_ATTRIBUTE, "user") or inputs
        elif name == COMPLETION_EVENT:
            outputs = _event_messages(event, COMPLETION_EVENT_ATTRIBUTE, "assistant") or outputs
    input_text = render_input(inputs)
    output_text = "\n".join(text for _, text in outputs if text)
    return Exchange(input_text, output_text) if input_text and output_text else None


def _event_messages(event: Any, key: str, role: str) -> list[Message]:
    raw = (getattr(event, "attributes", None) or {}).get(key)
    if not isinstance(raw, str) or not raw:
        return []
    _checked(raw)
    value = bounded_json(raw, key) if raw[:1] in "[{" else raw
    if isinstance(value, str):
        return [(role, value)]
    if isinstance(value, dict):
        value = [value]
    messages: list[Message] = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict) and isinstance(item.get("content"), str) and item["content"]:
            messages.append((str(item.get("role") or role), _checked(item["content"])))
    return messages


def content_lengths(attrs: Mapping[str, Any]) -> tuple[int, int] | str | None:
    """The lengths of the pair a model-call span carries (for ``inspect``), ``"redacted"``, or None."""
    try:
        exchange = span_exchange(attrs)
    except Redacted:
        return "redacted"
    return None if exchange is None else (len(exchange.input), len(exchange.output))


def render_input(messages: Sequence[Message]) -> str:
    """The input side: system and developer messages left out; a lone user message is its text."""
    kept = [(role, text) for role, text in messages if role not in _LEFT_OUT_ROLES and text]
    if len(kept) == 1 and kept[0][0] == "user":
        return kept[0][1]
    return "\n".join("%s: %s" % (role, text) for role, text in kept)


def _checked(text: str) -> str:
    if text == REDACTED:
        raise Redacted()
    return text


# --- OpenTelemetry GenAI: JSON messages with typed parts. ---------------------


def _otel_genai(attrs: Mapping[str, Any]) -> tuple[list[Message], list[Message]] | None:
    raw_in, raw_out = attrs.get(GEN_AI_INPUT_MESSAGES), attrs.get(GEN_AI_OUTPUT_MESSAGES)
    if not isinstance(raw_in, str) or not isinstance(raw_out, str):
        return None
    inputs = _genai_messages(bounded_json(raw_in, GEN_AI_INPUT_MESSAGES))
    outputs = _genai_messages(bounded_json(raw_out, GEN_AI_OUTPUT_MESSAGES))
    if not inputs or not outputs:
        return None
    return inputs, outputs


def _genai_messages(value: Any) -> list[Message]:
    messages: list[Message] = []
    if not isinstance(value, list):
        return messages
    for item in value[:_MAX_MESSAGES]:
        if not isinstance(item, dict):
            continue
        role = item.get("role")
        parts = item.get("parts")
        if not isinstance(role, str) or not isinstance(parts, list):
            continue
        texts = [
            _checked(part["content"])
            for part in parts
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str)
        ]
        text = "\n".join(t for t in texts if t)
        if text:
            messages.append((role, text))
    return messages


# --- OpenInference: flattened messages, else plain-text values. ---------------


def _openinference(attrs: Mapping[str, Any]) -> tuple[list[Message], list[Message]] | None:
    inputs = _indexed(attrs, OI_INPUT_MESSAGES, ".message.role", ".message.content", ".message.contents.")
    outputs = _indexed(attrs, OI_OUTPUT_MESSAGES, ".message.role", ".message.content", ".message.contents.")
    if not inputs:
        inputs = _plain_value(attrs, OI_INPUT_VALUE, OI_INPUT_MIME, "user")
    if not outputs:
        outputs = _plain_value(attrs, OI_OUTPUT_VALUE, OI_OUTPUT_MIME, "assistant")
    if not inputs or not outputs:
        return None
    return inputs, outputs


def _plain_value(attrs: Mapping[str, Any], key: str, mime_key: str, role: str) -> list[Message]:
    value = attrs.get(key)
    if not isinstance(value, str) or not value:
        return []
    _checked(value)
    mime = attrs.get(mime_key)
    if isinstance(mime, str) and mime != "text/plain":
        return []  # a request or response body (JSON), not the text itself
    return [(role, value)]


def _indexed(attrs: Mapping[str, Any], prefix: str, role_suffix: str, content_suffix: str, parts: str) -> list[Message]:
    messages: list[Message] = []
    for index in range(_MAX_MESSAGES):
        base = prefix + str(index)
        role = attrs.get(base + role_suffix)
        content = attrs.get(base + content_suffix)
        if role is None and content is None and not _has_index(attrs, base + "."):
            if index == 0:
                continue  # tolerate a list numbered from 1
            break
        text = _checked(content) if isinstance(content, str) else _part_texts(attrs, base + parts)
        if isinstance(role, str) and text:
            messages.append((role, text))
    return messages


def _part_texts(attrs: Mapping[str, Any], prefix: str) -> str:
    texts = []
    for index in range(_MAX_MESSAGES):
        text = attrs.get(prefix + str(index) + ".message_content.text")
        if text is None:
            break
        if isinstance(text, str) and text:
            texts.append(_checked(text))
    return "\n".join(texts)


def _has_index(attrs: Mapping[str, Any], prefix: str) -> bool:
    return any(isinstance(key, str) and key.startswith(prefix) for key in attrs)


# --- Traceloop (OpenLLMetry 0.52): gen_ai.prompt.N / gen_ai.completion.N. -----


def _traceloop(attrs: Mapping[str, Any]) -> tuple[list[Message], list[Message]] | None:
    inputs = _indexed(attrs, TRACELOOP_PROMPT, ".role", ".content", ".content.")
    outputs = _indexed(attrs, TRACELOOP_COMPLETION, ".role", ".content", ".content.")
    if not inputs or not outputs:
        return None
    return inputs, outputs
