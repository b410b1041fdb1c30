"""What an application does with the OpenAI Agents SDK (``openai-agents``).

A triage agent hands off to a weather specialist, which calls one
``@function_tool``, then answers; a plain single agent; a failing model; the
handoff run streamed. Every scenario runs on the Responses API (the SDK's
default) or on Chat Completions (``set_default_openai_api``), against the
loopback :class:`~openai_stub.OpenAIStub` through a real ``openai.AsyncOpenAI``
client without retries.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai_stub import OpenAIStub

MODEL = "gpt-4o-mini"
TOOL = "get_weather"
TRIAGE = "triage_agent"
SPECIALIST = "weather_specialist"
HANDOFF_TOOL = "transfer_to_" + SPECIALIST
RESPONSES = "responses"
CHAT_COMPLETIONS = "chat_completions"
APIS = (RESPONSES, CHAT_COMPLETIONS)
QUESTION = "Weather in Paris?"


def use_stub(stub: OpenAIStub, api: str) -> None:
    """Points the SDK at the stub, on ``api``, as an app configures it."""
    import agents
    import openai

    client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0)
    agents.set_default_openai_client(client, use_for_tracing=False)
    agents.set_default_openai_api(api)  # type: ignore[arg-type]


def _settings(api: str) -> Any:
    from agents import ModelSettings

    # The SDK asks for stream usage by itself only from api.openai.com; an app on another
    # base URL turns it on.
    return ModelSettings(include_usage=True) if api == CHAT_COMPLETIONS else ModelSettings()


def triage_agent(api: str, model: str = MODEL) -> Any:
    """A triage agent whose only move is a handoff to the specialist, which has one tool."""
    from agents import Agent, function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    specialist = Agent(
        name=SPECIALIST,
        instructions="Answer weather questions with the tool.",
        model=model,
        model_settings=_settings(api),
        tools=[get_weather],
    )
    return Agent(
        name=TRIAGE,
        instructions="Hand weather questions to the specialist.",
        model=model,
        model_settings=_settings(api),
        handoffs=[specialist],
    )


def handoff_run(stub: OpenAIStub, api: str) -> Any:
    """The triage agent run to the end; returns the run result."""
    from agents import Runner

    use_stub(stub, api)
    return Runner.run_sync(triage_agent(api), QUESTION)


def chat_run(stub: OpenAIStub, api: str) -> str:
    """One agent, no tools, one model call."""
    from agents import Agent, Runner

    use_stub(stub, api)
    agent = Agent(name="assistant", instructions="You are terse.", model=MODEL, model_settings=_settings(api))
    return str(Runner.run_sync(agent, "Say hello.").final_output)


def streamed_handoff_run(stub: OpenAIStub, api: str) -> Any:
    """The handoff run with ``Runner.run_streamed``, its events consumed to the end."""
    from agents import Runner

    use_stub(stub, api)

    async def run() -> Any:
        result = Runner.run_streamed(triage_agent(api), QUESTION)
        async for _event in result.stream_events():
            pass
        return result

    return asyncio.run(run())


def failing_run(stub: OpenAIStub, api: str, model: str) -> Exception:
    """A run whose model the stub fails (``fail-500``); the app catches the error."""
    from agents import Agent, Runner

    use_stub(stub, api)
    agent = Agent(name="assistant", instructions="You are terse.", model=model, model_settings=_settings(api))
    try:
        Runner.run_sync(agent, "Say hello.")
    except Exception as exc:  # noqa: BLE001 - whichever error the SDK raises, returned for asserting
        return exc
    raise AssertionError("the stub did not fail " + model)
