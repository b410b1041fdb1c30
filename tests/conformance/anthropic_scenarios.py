"""What an application does with the real ``anthropic`` client, against :class:`~anthropic_stub.AnthropicStub`.

The conformance tests run each scenario inside ``ai_run`` and assert the
events that reach the LaunchDarkly sink.
"""

from __future__ import annotations

import asyncio
from typing import Any

from anthropic_stub import AnthropicStub

MODEL = "claude-sonnet-4-5"
TOOL = "get_weather"
MESSAGES = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {
    "name": TOOL,
    "description": "Gets the weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
LONG_SYSTEM = "You are a weather assistant. " * 200
"""A system prompt long enough to be worth caching (the stub does not check the length)."""


def client(stub: AnthropicStub):
    """A real ``anthropic.Anthropic`` client on the stub; no retries, so errors surface."""
    import anthropic

    return anthropic.Anthropic(base_url=stub.base_url, api_key="test-key", max_retries=0)


def chat(stub: AnthropicStub) -> str:
    message = client(stub).messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    return message.content[0].text


def stream(stub: AnthropicStub) -> str:
    """``messages.create(stream=True)``: raw events, consumed to the end inside the caller's scope."""
    events = client(stub).messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=True)
    pieces = []
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            pieces.append(event.delta.text)
    events.close()
    return "".join(pieces)


def stream_helper(stub: AnthropicStub) -> tuple[str, int]:
    """``messages.stream()``: the SDK's helper; returns the text and the final message's output count."""
    with client(stub).messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as helper:
        text = "".join(helper.text_stream)
        final = helper.get_final_message()
    return text, final.usage.output_tokens


def async_chat(stub: AnthropicStub) -> str:
    import anthropic

    async def run() -> str:
        async with anthropic.AsyncAnthropic(base_url=stub.base_url, api_key="test-key", max_retries=0) as client:
            message = await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
            return message.content[0].text

    return asyncio.run(run())


def async_stream_helper(stub: AnthropicStub) -> tuple[str, int]:
    """``AsyncAnthropic().messages.stream()``: the async helper, consumed to the end."""
    import anthropic

    async def run() -> tuple[str, int]:
        async with anthropic.AsyncAnthropic(base_url=stub.base_url, api_key="test-key", max_retries=0) as client:
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as helper:
                text = "".join([piece async for piece in helper.text_stream])
                final = await helper.get_final_message()
            return text, final.usage.output_tokens

    return asyncio.run(run())


def tool_round_trip(stub: AnthropicStub) -> str:
    """The model asks for a tool (``tool_use``), the app runs it, sends a ``tool_result``, the model answers."""
    anthropic_client = client(stub)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = anthropic_client.messages.create(model=MODEL, max_tokens=50, messages=messages, tools=[WEATHER_TOOL])
    assert first.stop_reason == "tool_use", first
    call = next(block for block in first.content if block.type == "tool_use")
    messages.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": '{"temp_c": 21}'}]}
    )
    second = anthropic_client.messages.create(model=MODEL, max_tokens=50, messages=messages, tools=[WEATHER_TOOL])
    assert second.stop_reason == "end_turn", second
    return second.content[0].text


def cached_chat(stub: AnthropicStub) -> tuple[int, int, int]:
    """A prompt-cached call (``cache_control`` on the system prompt); returns the API's usage triple."""
    message = client(stub).messages.create(
        model=MODEL,
        max_tokens=50,
        system=[{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}],
        messages=MESSAGES,
    )
    usage = message.usage
    return usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens


def cached_stream(stub: AnthropicStub) -> tuple[int, int, int, int]:
    """A prompt-cached ``messages.stream()``; returns the final message's usage (input, read, write, output)."""
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    with client(stub).messages.stream(model=MODEL, max_tokens=50, system=system, messages=MESSAGES) as helper:
        for _ in helper.text_stream:
            pass
        usage = helper.get_final_message().usage
    return usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens, usage.output_tokens


def failing_chat(stub: AnthropicStub, model: str = "fail-500") -> Exception:
    """A call the stub fails (``fail-500`` / ``fail-529``); the app catches the error."""
    try:
        client(stub).messages.create(model=model, max_tokens=50, messages=MESSAGES)
    except Exception as exc:  # noqa: BLE001 - whichever anthropic error, returned for asserting
        return exc
    raise AssertionError("the stub did not fail " + model)
