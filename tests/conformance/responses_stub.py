"""The OpenAI Responses API (``POST /v1/responses``) for :class:`~openai_stub.OpenAIStub`.

What the stub answers, as the real API does (shapes of November 2026):

* Every response has a unique ``resp_...`` id; message items ``msg_...``,
  function calls ``fc_...`` with a unique ``call_...`` call id.
* Which output: the first offered function tool not yet called in the
  request's ``input`` (a ``function_call`` item with its name) is called with
  :data:`TOOL_ARGUMENTS` (``{}`` for a handoff's ``transfer_to_<agent>``);
  when every offered tool was called, or none is offered, the output is one
  ``message`` with :data:`~openai_stub.CHAT_CONTENT`. So a triage agent whose
  only tool is a handoff transfers, the specialist calls its function tool,
  then answers.
* Usage, with the API's meaning: ``input_tokens`` :data:`INPUT_TOKENS` (cached
  reads included: ``input_tokens_details.cached_tokens``
  :data:`CACHED_TOKENS`), ``output_tokens`` :data:`OUTPUT_TOKENS` (reasoning
  included: ``output_tokens_details.reasoning_tokens`` :data:`REASONING_TOKENS`),
  ``total_tokens`` their sum. LaunchDarkly's rule counts 30 / 12 / 42; adding
  the cached or reasoning counts again would show as 50 or 17.
* ``"stream": true``: Server-Sent Events with ``event:`` and ``data:`` lines
  and increasing ``sequence_number``: ``response.created``,
  ``response.in_progress``, ``response.output_item.added``, then for a message
  ``response.content_part.added``, one ``response.output_text.delta`` per
  piece of :data:`~openai_stub.STREAM_PIECES`, ``response.output_text.done``,
  ``response.content_part.done``, or for a function call
  ``response.function_call_arguments.delta`` / ``.done``; then
  ``response.output_item.done`` and ``response.completed`` with the usage.
* Errors by model name as for chat (``fail-500``, ``fail-429``), answered by
  the stub before this module is asked.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

INPUT_TOKENS = 30
CACHED_TOKENS = 20
OUTPUT_TOKENS = 12
REASONING_TOKENS = 5
TOTAL_TOKENS = INPUT_TOKENS + OUTPUT_TOKENS
TOOL_ARGUMENTS = '{"city": "Paris"}'
HANDOFF_PREFIX = "transfer_to_"


def usage() -> dict[str, Any]:
    return {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": TOTAL_TOKENS,
    }


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def tool_to_call(body: dict[str, Any]) -> str | None:
    """The first offered function tool the request's input has not called yet, if any."""
    called = {
        item.get("name")
        for item in body.get("input") or []
        if isinstance(item, dict) and item.get("type") == "function_call"
    }
    for tool in body.get("tools") or []:
        if tool.get("type") == "function" and tool.get("name") not in called:
            return str(tool["name"])
    return None


def _response(body: dict[str, Any], response_id: str, output: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed" if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model", ""),
        "output": output,
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": bool(body.get("store", True)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage() if done else None,
        "user": None,
        "metadata": {},
    }


def _item(tool_name: str | None, text: str) -> dict[str, Any]:
    if tool_name is None:
        return {
            "type": "message",
            "id": _new_id("msg_"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    return {
        "type": "function_call",
        "id": _new_id("fc_"),
        "call_id": _new_id("call_"),
        "name": tool_name,
        "arguments": "{}" if tool_name.startswith(HANDOFF_PREFIX) else TOOL_ARGUMENTS,
        "status": "completed",
    }


def response(body: dict[str, Any], text: str) -> dict[str, Any]:
    """The non-streaming answer to ``body``."""
    return _response(body, _new_id("resp_"), [_item(tool_to_call(body), text)], done=True)


def stream_events(body: dict[str, Any], pieces: tuple[str, ...]) -> list[bytes]:
    """The Server-Sent Events of a streamed answer to ``body``, encoded."""
    response_id = _new_id("resp_")
    item = _item(tool_to_call(body), "".join(pieces))
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(body, response_id, [], done=False)},
        {"type": "response.in_progress", "response": _response(body, response_id, [], done=False)},
    ]
    if item["type"] == "message":
        part = item["content"][0]
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": dict(item, status="in_progress", content=[]),
            }
        )
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        events.append(dict(where, type="response.content_part.added", part=dict(part, text="")))
        events += [dict(where, type="response.output_text.delta", delta=p, logprobs=[]) for p in pieces]
        events.append(dict(where, type="response.output_text.done", text=part["text"], logprobs=[]))
        events.append(dict(where, type="response.content_part.done", part=part))
    else:
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": dict(item, status="in_progress", arguments=""),
            }
        )
        where = {"item_id": item["id"], "output_index": 0}
        events.append(dict(where, type="response.function_call_arguments.delta", delta=item["arguments"]))
        events.append(
            dict(where, type="response.function_call_arguments.done", name=item["name"], arguments=item["arguments"])
        )
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    events.append({"type": "response.completed", "response": _response(body, response_id, [item], done=True)})
    encoded = []
    for number, event in enumerate(events):
        event["sequence_number"] = number
        encoded.append(("event: %s\ndata: %s\n\n" % (event["type"], json.dumps(event))).encode())
    return encoded
