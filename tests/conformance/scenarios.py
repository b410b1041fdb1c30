"""What an application does with the real ``openai`` client or a pydantic-ai agent.

Each scenario talks to the loopback :class:`~openai_stub.OpenAIStub`; the
conformance tests run it inside ``ai_run`` and assert the events that reach
the LaunchDarkly sink.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from openai_stub import OpenAIStub

MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
TOOL = "get_weather"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL,
        "description": "Gets the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(stub: OpenAIStub):
    """A real ``openai.OpenAI`` client on the stub; no retries, so errors surface."""
    import openai

    return openai.OpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0)


def chat(stub: OpenAIStub) -> str:
    response = client(stub).chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.2,
        max_tokens=50,
    )
    return response.choices[0].message.content


def async_chat(stub: OpenAIStub) -> str:
    import openai

    async def run() -> str:
        async_client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0)
        try:
            response = await async_client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return response.choices[0].message.content
        finally:
            await async_client.close()

    return asyncio.run(run())


def stream(stub: OpenAIStub, include_usage: bool) -> str:
    """A streamed chat, consumed to the end inside the caller's scope."""
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = client(stub).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, **options)
    pieces = []
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    chunks.close()
    return "".join(pieces)


def tool_round_trip(stub: OpenAIStub, run_tool: Callable[[str], str] | None = None) -> str:
    """The model asks for a tool, the app runs it, the model answers: two calls.

    Args:
        stub: The OpenAI stub.
        run_tool: Runs the tool with the call's JSON arguments (the app's own
            code, possibly traced); by default the answer is made up inline.
    """
    openai_client = client(stub)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    result = run_tool(call.function.arguments) if run_tool is not None else '{"temp_c": 21}'
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = openai_client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    return second.choices[0].message.content


def failing_chat(stub: OpenAIStub, model: str) -> Exception:
    """A chat the stub fails (``fail-500`` / ``fail-429``); the app catches the error."""
    try:
        client(stub).chat.completions.create(model=model, messages=MESSAGES)
    except Exception as exc:  # noqa: BLE001 - whichever openai error, returned for asserting
        return exc
    raise AssertionError("the stub did not fail " + model)


def embeddings(stub: OpenAIStub) -> int:
    response = client(stub).embeddings.create(model=EMBEDDING_MODEL, input=["hello world"])
    return len(response.data[0].embedding)


# --- pydantic-ai ----------------------------------------------------------------


def agent(stub: OpenAIStub, model_name: str = MODEL):
    """A pydantic-ai agent with one tool, on ``OpenAIChatModel`` pointed at the stub."""
    import openai
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    async_client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0)
    model = OpenAIChatModel(model_name, provider=OpenAIProvider(openai_client=async_client))
    weather_agent = Agent(model, name="weather_agent", instructions="You are terse.")

    @weather_agent.tool_plain
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    return weather_agent


def agent_run(stub: OpenAIStub) -> str:
    return agent(stub).run_sync("Weather in Paris?").output


def agent_stream(stub: OpenAIStub) -> str:
    async def run() -> str:
        async with agent(stub).run_stream("Weather in Paris?") as result:
            return "".join([piece async for piece in result.stream_text(delta=True)])

    return asyncio.run(run())


def failing_agent_run(stub: OpenAIStub, model: str) -> Exception:
    try:
        agent(stub, model).run_sync("Weather in Paris?")
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("the stub did not fail " + model)
