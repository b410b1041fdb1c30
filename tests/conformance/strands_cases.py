"""Strands Agents on its Gemini model provider (``GeminiModel``) against the loopback Gemini stub.

``GeminiModel`` always streams (``generate_content_stream``); its usage is the
last chunk's ``usageMetadata``: input = prompt + toolUsePrompt, output =
candidates + thoughts. Subclasses state the provider name the events carry and
where the time to first token comes from.
"""

from __future__ import annotations

import gemini_stub as gs
from cases import Cases, ttft_from_spans
from gemini_cases import MODEL, ONE_CALL, THINKING, TOOL, TWO_CALLS, expect


def gemini_agent(stub: gs.GeminiStub, *, model: str = MODEL, tools: bool = True, thinking: bool = False):
    """A Strands agent on ``GeminiModel`` pointed at the stub (retries off); one ``@tool`` unless told."""
    from google.genai import types
    from strands import Agent, tool
    from strands.models.gemini import GeminiModel

    @tool
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    http_options = types.HttpOptions(base_url=stub.base_url, retry_options=types.HttpRetryOptions(attempts=1))
    params = {"thinking_config": {"include_thoughts": True, "thinking_budget": 128}} if thinking else {}
    gemini_model = GeminiModel(
        client_args={"api_key": "test-key", "http_options": http_options}, model_id=model, params=params
    )
    return Agent(
        model=gemini_model,
        name="weather_agent",
        tools=[get_weather] if tools else [],
        system_prompt="You are terse.",
        callback_handler=None,
    )


class StrandsGeminiCases(Cases):
    provider: str = ""
    ttft_source: tuple[str, str] = ("", "")

    def representative_run(self, stub) -> None:  # type: ignore[override]
        str(gemini_agent(stub)("Weather in Paris?"))

    def test_inspect_predicts_exactly_the_events_the_processor_sent(self, stack, gemini_stub, tmp_path):
        from cases import sent_and_inspected

        with stack.run() as run:
            self.representative_run(gemini_stub)
        sent, predicted = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 5
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)

    def test_chat(self, stack, gemini_stub):
        with stack.run() as run:
            assert str(gemini_agent(gemini_stub, tools=False)("Say hello.")).strip() == gs.CHAT_TEXT
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source),
        )

    def test_tool_round_trip(self, stack, gemini_stub):
        with stack.run() as run:
            assert str(gemini_agent(gemini_stub)("Weather in Paris?")).strip() == gs.CHAT_TEXT
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source),
            tool_calls=(TOOL,),
        )

    def test_thinking_tokens_are_output(self, stack, gemini_stub):
        with stack.run() as run:
            assert str(gemini_agent(gemini_stub, tools=False, thinking=True)("Say hello.")).strip() == gs.CHAT_TEXT
        expect(
            stack.events(run),
            run,
            tokens=THINKING,
            success=True,
            model=MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source),
        )

    def test_http_500_is_an_error(self, stack, gemini_stub):
        from google.genai import errors

        with stack.run() as run:
            try:
                gemini_agent(gemini_stub, model=gs.ERROR_MODEL)("Say hello.")
            except errors.ServerError as exc:
                assert exc.code == 500
            else:
                raise AssertionError("the stub did not fail")
        expect(stack.events(run), run, tokens=None, success=False, model=gs.ERROR_MODEL, provider=self.provider)
