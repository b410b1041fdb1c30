"""What an application does with LangChain's ``ChatOpenAI`` and a LangGraph ReAct agent.

Each scenario talks to the loopback OpenAI stub (``langchain_stub.py``) through the
real ``langchain-openai`` ``ChatOpenAI``, which uses the real ``openai`` client; the
conformance tests run it inside ``ai_run`` and assert the events that reach the
LaunchDarkly sink.
"""

from __future__ import annotations

from typing import Any

from scenarios import MODEL, TOOL

MESSAGES = [("system", "You are terse."), ("human", "Say hello.")]
BATCH_PROMPTS = ("Say hello.", "Say goodbye.", "Say thanks.")
AGENT_NAME = "weather_agent"


def chat_model(stub: Any, model: str = MODEL, **options: Any):
    """A real ``ChatOpenAI`` on the stub; no retries, so errors surface."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=stub.base_url, api_key="test", max_retries=0, **options)


def chat(stub: Any) -> str:
    return chat_model(stub, temperature=0.2).invoke(MESSAGES).content


def stream(stub: Any, stream_usage: bool | None) -> str:
    """A streamed chat consumed to the end; ``stream_usage=None`` leaves ChatOpenAI's default
    (off with a custom ``base_url``: no ``stream_options.include_usage``, so no usage)."""
    options = {} if stream_usage is None else {"stream_usage": stream_usage}
    return "".join(chunk.content for chunk in chat_model(stub, **options).stream(MESSAGES))


def failing_chat(stub: Any, model: str) -> Exception:
    """A chat the stub fails (``fail-500``); the app catches the error."""
    try:
        chat_model(stub, model=model).invoke(MESSAGES)
    except Exception as exc:  # noqa: BLE001 - whichever openai error, returned for asserting
        return exc
    raise AssertionError("the stub did not fail " + model)


def batch(stub: Any) -> list[str]:
    """Three prompts through ``ChatOpenAI.batch``, which runs them on a thread pool at once.

    The stub holds the three requests until all have arrived, so they are in flight together.
    """
    stub.rendezvous(len(BATCH_PROMPTS))
    answers = chat_model(stub).batch(list(BATCH_PROMPTS), config={"max_concurrency": len(BATCH_PROMPTS)})
    return [answer.content for answer in answers]


def _in_one_event_loop(work: Any) -> Any:
    """``asyncio.run(work(async_http_client))`` with an HTTP client of that loop, closed after.

    ChatOpenAI caches one default async HTTP client per base URL for the process; its
    pooled connections belong to the first event loop, so a second ``asyncio.run`` would
    reuse a dead loop's connections. An app has one loop; each scenario here brings its own.
    """
    import asyncio

    import openai

    async def run() -> Any:
        http_client = openai.DefaultAsyncHttpxClient()
        try:
            return await work(http_client)
        finally:
            await http_client.aclose()

    return asyncio.run(run())


def async_batch(stub: Any) -> list[str]:
    """The same three prompts through ``ChatOpenAI.abatch``: concurrent asyncio tasks on one thread."""

    async def work(http_client: Any) -> list[str]:
        answers = await chat_model(stub, http_async_client=http_client).abatch(list(BATCH_PROMPTS))
        return [answer.content for answer in answers]

    stub.rendezvous(len(BATCH_PROMPTS))
    return _in_one_event_loop(work)


def concurrent_streams(stub: Any) -> list[str]:
    """The three prompts streamed at once (``astream`` with usage, three asyncio tasks), each consumed to the end."""
    import asyncio

    async def work(http_client: Any) -> list[str]:
        model = chat_model(stub, stream_usage=True, http_async_client=http_client)

        async def one(prompt: str) -> str:
            return "".join([chunk.content async for chunk in model.astream(prompt)])

        return list(await asyncio.gather(*(one(prompt) for prompt in BATCH_PROMPTS)))

    stub.rendezvous(len(BATCH_PROMPTS))
    return _in_one_event_loop(work)


def agent(stub: Any, model: str = MODEL):
    """A LangGraph ReAct agent (``create_react_agent``) with one tool on ``ChatOpenAI``."""
    import warnings

    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    @tool(TOOL)
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    with warnings.catch_warnings():
        # Deprecated in favour of langchain.agents.create_agent; still LangGraph's own prebuilt agent.
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(chat_model(stub, model=model), [get_weather], name=AGENT_NAME)


def agent_run(stub: Any) -> str:
    """The agent asks for the tool, runs it, answers: two model calls and one tool call."""
    result = agent(stub).invoke({"messages": [("human", "Weather in Paris?")]})
    return result["messages"][-1].content
