"""Bedrock conformance cases: a real ``boto3`` ``bedrock-runtime`` client on the loopback stub.

What an application does with Converse and ConverseStream (chat, stream, a
tool round trip, prompt caching with ``cachePoint`` blocks, an HTTP 500),
inside ``ai_run``, and the exact LaunchDarkly events each must give. Each
``test_<bedrock combo>.py`` subclasses :class:`BedrockCases` and states what its
instrumentation writes (the model and provider names its spans carry, whether
it records the tool calls a model asks for); time to first token has no source
in any of them, so the stream cases assert its event is absent. Every case also checks that
``ldai-otel inspect`` predicts, from the run's spans, exactly the events sent.

Expected tokens follow LaunchDarkly's rule (input = every prompt token, cached
reads and cache writes included): the stub's caching answer is AWS
``inputTokens`` 5 (cache-exclusive), ``cacheReadInputTokens`` 100,
``cacheWriteInputTokens`` 20, ``outputTokens`` 7, so input 125, output 7, total 132.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bedrock_stub
import pytest
from bedrock_stub import BedrockStub
from cases import (
    INPUT,
    OUTPUT,
    TOTAL,
    Cases,
    expect,
    sent_and_inspected,
)

MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
TOOL = "get_weather"
SYSTEM = [{"text": "You are terse."}]
MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
CACHED_SYSTEM = [{"text": "A long, stable system prompt worth caching."}, {"cachePoint": {"type": "default"}}]
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": TOOL,
                "description": "Gets the weather for a city.",
                "inputSchema": {
                    "json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
                },
            }
        }
    ]
}

ONE_CALL = {INPUT: 11, OUTPUT: 7, TOTAL: 18}
TWO_CALLS = {INPUT: 22, OUTPUT: 14, TOTAL: 36}
CACHED_CALL = {
    INPUT: bedrock_stub.CACHED_INPUT_TOKENS + bedrock_stub.CACHE_READ_TOKENS + bedrock_stub.CACHE_WRITE_TOKENS,
    OUTPUT: bedrock_stub.OUTPUT_TOKENS,
    TOTAL: bedrock_stub.CACHED_INPUT_TOKENS
    + bedrock_stub.CACHE_READ_TOKENS
    + bedrock_stub.CACHE_WRITE_TOKENS
    + bedrock_stub.OUTPUT_TOKENS,
}
assert CACHED_CALL == {INPUT: 125, OUTPUT: 7, TOTAL: 132}


# --- what the application does --------------------------------------------------


def _text(message: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in message["content"])


def chat(stub: BedrockStub) -> str:
    response = stub.client().converse(
        modelId=MODEL_ID, system=SYSTEM, messages=MESSAGES, inferenceConfig={"maxTokens": 50, "temperature": 0.2}
    )
    return _text(response["output"]["message"])


def _stream_events(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stream = response["stream"]
    try:
        yield from stream
    finally:
        stream.close()


def stream(stub: BedrockStub, system: list[dict[str, Any]] | None = None) -> str:
    """A ConverseStream call, consumed to the end inside the caller's scope."""
    response = stub.client().converse_stream(modelId=MODEL_ID, system=system or SYSTEM, messages=MESSAGES)
    pieces = []
    for event in _stream_events(response):
        delta = event.get("contentBlockDelta", {}).get("delta", {})
        if "text" in delta:
            pieces.append(delta["text"])
    return "".join(pieces)


def cached_chat(stub: BedrockStub) -> str:
    response = stub.client().converse(modelId=MODEL_ID, system=CACHED_SYSTEM, messages=MESSAGES)
    usage = response["usage"]
    assert usage["cacheReadInputTokens"] == bedrock_stub.CACHE_READ_TOKENS  # the stub answered the cached shape
    return _text(response["output"]["message"])


def _streamed_message(response: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The assistant message a ConverseStream response adds up to (text and toolUse blocks), and its stopReason."""
    content: list[dict[str, Any]] = []
    tool_input = ""
    stop_reason = None
    for event in _stream_events(response):
        if "messageStop" in event:
            stop_reason = event["messageStop"]["stopReason"]
        elif "contentBlockStart" in event:
            tool_use = dict(event["contentBlockStart"]["start"]["toolUse"])
            content.append({"toolUse": tool_use})
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]["delta"]
            if "text" in delta:
                if not content or "text" not in content[-1]:
                    content.append({"text": ""})
                content[-1]["text"] += delta["text"]
            elif "toolUse" in delta:
                tool_input += delta["toolUse"]["input"]
        elif "contentBlockStop" in event and content and "toolUse" in content[-1]:
            content[-1]["toolUse"]["input"] = json.loads(tool_input or "{}")
            tool_input = ""
    return {"role": "assistant", "content": content}, stop_reason


def tool_round_trip(stub: BedrockStub, streamed: bool = False) -> str:
    """The model asks for the tool (stopReason ``tool_use``), the app runs it, the model answers: two calls."""
    client = stub.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": "Weather in Paris?"}]}]

    def call() -> tuple[dict[str, Any], str | None]:
        if streamed:
            return _streamed_message(
                client.converse_stream(modelId=MODEL_ID, messages=messages, toolConfig=TOOL_CONFIG)
            )
        response = client.converse(modelId=MODEL_ID, messages=messages, toolConfig=TOOL_CONFIG)
        return response["output"]["message"], response["stopReason"]

    first, stop_reason = call()
    assert stop_reason == "tool_use"
    tool_use = next(block["toolUse"] for block in first["content"] if "toolUse" in block)
    assert tool_use["name"] == TOOL and tool_use["input"] == bedrock_stub.TOOL_INPUT
    messages.append(first)
    messages.append(
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp_c": 21}}]}}],
        }
    )
    second, stop_reason = call()
    assert stop_reason == "end_turn"
    return _text(second)


def failing_call(stub: BedrockStub, streamed: bool = False) -> Exception:
    """A call the stub fails with HTTP 500; the app catches botocore's error."""
    from botocore.exceptions import ClientError

    client = stub.client()
    try:
        if streamed:
            client.converse_stream(modelId=bedrock_stub.ERROR_MODEL, messages=MESSAGES)
        else:
            client.converse(modelId=bedrock_stub.ERROR_MODEL, messages=MESSAGES)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InternalServerException"
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        return exc
    raise AssertionError("the stub did not fail")


def failing_midstream(stub: BedrockStub) -> Exception:
    """A ConverseStream that fails inside the stream (HTTP 200, one delta, an exception message)."""
    from botocore.exceptions import EventStreamError

    response = stub.client().converse_stream(modelId=bedrock_stub.MIDSTREAM_ERROR_MODEL, messages=MESSAGES)
    pieces = []
    try:
        for event in _stream_events(response):
            pieces.append(event.get("contentBlockDelta", {}).get("delta", {}).get("text", ""))
    except EventStreamError as exc:
        assert exc.response["Error"]["Code"] == "internalServerException"
        assert "".join(pieces) == bedrock_stub.STREAM_PIECES[0]
        return exc
    raise AssertionError("the stream did not fail")


# --- what LaunchDarkly must receive ---------------------------------------------


class BedrockCases(Cases):
    """The real ``boto3`` bedrock-runtime client, instrumented, inside ``ai_run``."""

    model: str = MODEL_ID
    """The model name the events carry (what the instrumentation's spans name)."""
    provider: str = ""
    """The provider name the events carry."""
    response_tool_calls: bool = False
    """Whether the instrumentation records, on its spans, the tool calls a model asks for."""
    scope: str = ""
    """The instrumentation scope of its spans."""

    bedrock: BedrockStub

    @pytest.fixture(autouse=True)
    def _bedrock_stub(self, bedrock_stub: BedrockStub, tmp_path: Path) -> None:
        self.bedrock = bedrock_stub
        self.tmp_path = tmp_path

    def representative_run(self, stack) -> None:
        stream(self.bedrock)
        tool_round_trip(self.bedrock)
        cached_chat(self.bedrock)

    def _expect(self, stack, run, **kwargs: Any) -> dict[str, Any]:
        """The exact events of ``run``; and ``ldai-otel inspect`` predicts them from its spans, for every case."""
        model = kwargs.pop("model", self.model)
        provider = kwargs.pop("provider", self.provider)
        got = expect(stack.events(run), run, model=model, provider=provider, **kwargs)
        sent, predicted = sent_and_inspected(stack, run, self.tmp_path)
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)
        return got

    def _model_spans(self, stack, run) -> list:
        return [s for s in stack.spans(run) if s.instrumentation_scope.name == self.scope]

    def test_chat(self, stack):
        with stack.run() as run:
            assert chat(self.bedrock) == bedrock_stub.TEXT
        self._expect(stack, run, tokens=ONE_CALL, success=True)
        assert len(self._model_spans(stack, run)) == 1

    def test_stream_has_no_time_to_first_token_source(self, stack):
        with stack.run() as run:
            assert stream(self.bedrock) == "".join(bedrock_stub.STREAM_PIECES)
        self._expect(stack, run, tokens=ONE_CALL, success=True)
        (span,) = self._model_spans(stack, run)
        assert not span.events  # nothing to read a first token's time from

    def test_tool_round_trip(self, stack):
        with stack.run() as run:
            assert tool_round_trip(self.bedrock) == bedrock_stub.TEXT
        self._expect(stack, run, tokens=TWO_CALLS, success=True, tool_calls=(TOOL,) if self.response_tool_calls else ())
        assert len(self._model_spans(stack, run)) == 2

    def test_streamed_tool_round_trip(self, stack):
        with stack.run() as run:
            assert tool_round_trip(self.bedrock, streamed=True) == "".join(bedrock_stub.STREAM_PIECES)
        self._expect(stack, run, tokens=TWO_CALLS, success=True, tool_calls=(TOOL,) if self.response_tool_calls else ())

    def test_prompt_caching_counts_cached_reads_and_writes_as_input(self, stack):
        with stack.run() as run:
            assert cached_chat(self.bedrock) == bedrock_stub.TEXT
        self._expect(stack, run, tokens=CACHED_CALL, success=True)

    def test_streamed_prompt_caching_counts_cached_reads_and_writes_as_input(self, stack):
        with stack.run() as run:
            assert stream(self.bedrock, system=CACHED_SYSTEM) == "".join(bedrock_stub.STREAM_PIECES)
        self._expect(stack, run, tokens=CACHED_CALL, success=True)

    def test_http_500_is_an_error(self, stack):
        sent_before = len(self.bedrock.requests)
        with stack.run() as run:
            failing_call(self.bedrock)
        assert len(self.bedrock.requests) == sent_before + 1  # one attempt: no retry hid the error
        self._expect(stack, run, tokens=None, success=False, model=bedrock_stub.ERROR_MODEL)

    def test_stream_http_500_is_an_error(self, stack):
        with stack.run() as run:
            failing_call(self.bedrock, streamed=True)
        self._expect(stack, run, tokens=None, success=False, model=bedrock_stub.ERROR_MODEL)

    def test_stream_failing_midstream_is_an_error(self, stack):
        with stack.run() as run:
            failing_midstream(self.bedrock)
        self._expect(stack, run, tokens=None, success=False, model=bedrock_stub.MIDSTREAM_ERROR_MODEL)

    def test_every_call_has_its_own_request_id(self, stack):
        before = len(self.bedrock.request_ids)
        with stack.run():
            chat(self.bedrock)
            chat(self.bedrock)
        ids = self.bedrock.request_ids[before:]
        assert len(ids) == 2 and len(set(ids)) == 2
