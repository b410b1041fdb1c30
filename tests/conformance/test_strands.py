"""Strands Agents 1.62.0 with its built-in OpenTelemetry spans, on its OpenAI model provider.

``StrandsTelemetry(tracer_provider=provider)`` (the app's provider); Strands'
tracer (scope ``strands.telemetry.tracer``) writes, per agent run,
``invoke_agent <name>`` > ``execute_event_loop_cycle`` (one per cycle) > ``chat``
(one per model call) and ``execute_tool <name>``, all with ``gen_ai.system``
``strands-agents`` (the model's own provider is written nowhere). Model spans
carry ``gen_ai.usage.input_tokens`` / ``output_tokens`` / ``total_tokens`` (and the
deprecated ``prompt_tokens`` / ``completion_tokens``) and
``gen_ai.server.time_to_first_token`` in ms, also for non-streamed model calls
(time to the whole response then). The agent span repeats its children's sum
under the same ``gen_ai.usage.*`` keys (not added again). Cycle spans
(``gen_ai.operation.name`` ``execute_event_loop_cycle``) are no GenAI class.
Errors: status ERROR and an ``exception`` event on chat, cycle and agent spans,
no ``error.type``. No response id.
"""

from __future__ import annotations

import asyncio

from cases import ATTRIBUTE_MS, INPUT, OUTPUT, TOTAL, Cases, ttft_from_spans
from gemini_cases import expect
from openai_stub import CHAT_CONTENT, COMPLETION_TOKENS, PROMPT_TOKENS

MODEL = "gpt-4o-mini"
PROVIDER = "strands-agents"
TOOL = "get_weather"
TTFT_SOURCE = (ATTRIBUTE_MS, "gen_ai.server.time_to_first_token")
ONE_CALL = {INPUT: PROMPT_TOKENS, OUTPUT: COMPLETION_TOKENS, TOTAL: PROMPT_TOKENS + COMPLETION_TOKENS}
TWO_CALLS = {key: 2 * value for key, value in ONE_CALL.items()}


def agent(stub, *, model: str = MODEL, tools: bool = True, stream: bool = True):
    """A Strands agent on ``OpenAIModel`` pointed at the OpenAI stub; one ``@tool`` unless told."""
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    @tool
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    openai_model = OpenAIModel(
        client_args={"base_url": stub.base_url, "api_key": "test-key", "max_retries": 0},
        model_id=model,
        stream=stream,
    )
    return Agent(
        model=openai_model,
        name="weather_agent",
        tools=[get_weather] if tools else [],
        system_prompt="You are terse.",
        callback_handler=None,
    )


def streamed_run(stub) -> str:
    async def run() -> str:
        pieces = []
        async for event in agent(stub).stream_async("Weather in Paris?"):
            if "data" in event:
                pieces.append(event["data"])
        return "".join(pieces)

    return asyncio.run(run())


class TestStrands(Cases):
    def representative_run(self, stack) -> None:
        str(agent(stack.stub)("Weather in Paris?"))

    def ttft(self, stack, run) -> int:
        return ttft_from_spans(stack.spans(run), TTFT_SOURCE)

    def test_chat(self, stack):
        with stack.run() as run:
            assert str(agent(stack.stub, tools=False)("Say hello.")).strip() == CHAT_CONTENT
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=PROVIDER,
            ttft_ms=self.ttft(stack, run),
        )

    def test_chat_on_a_non_streamed_model_call(self, stack):
        # Strands writes its time to first token here too: time to the whole response.
        with stack.run() as run:
            assert str(agent(stack.stub, tools=False, stream=False)("Say hello.")).strip() == CHAT_CONTENT
        assert not stack.stub.requests[-1][1].get("stream")
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=PROVIDER,
            ttft_ms=self.ttft(stack, run),
        )

    def test_tool_round_trip(self, stack):
        with stack.run() as run:
            assert str(agent(stack.stub)("Weather in Paris?")).strip() == CHAT_CONTENT
        # Two model calls 11/7 each; the agent span's 22/14 aggregate is not added;
        # one tool call, from the execute_tool span (not also from the response).
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=MODEL,
            provider=PROVIDER,
            ttft_ms=self.ttft(stack, run),
            tool_calls=(TOOL,),
        )

    def test_streamed_run(self, stack):
        with stack.run() as run:
            assert streamed_run(stack.stub).strip() == CHAT_CONTENT
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=MODEL,
            provider=PROVIDER,
            ttft_ms=self.ttft(stack, run),
            tool_calls=(TOOL,),
        )

    def test_http_500_is_an_error(self, stack):
        with stack.run() as run:
            try:
                agent(stack.stub, model="fail-500")("Say hello.")
            except Exception as exc:  # noqa: BLE001 - whichever error Strands raises
                assert "500" in str(exc)
            else:
                raise AssertionError("the stub did not fail")
        expect(stack.events(run), run, tokens=None, success=False, model="fail-500", provider=PROVIDER)

    def test_the_agent_span_really_repeats_its_childrens_usage(self, stack):
        with stack.run() as run:
            agent(stack.stub)("Weather in Paris?")
        stack.events(run)
        spans = stack.spans(run)
        agents = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "invoke_agent"]
        chats = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]
        assert [s.attributes["gen_ai.usage.input_tokens"] for s in agents] == [22]
        assert [s.attributes["gen_ai.usage.input_tokens"] for s in chats] == [11, 11]
        cycles = [s for s in spans if s.name == "execute_event_loop_cycle"]
        assert len(cycles) == 2
