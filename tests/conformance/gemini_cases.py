"""The Google Gen AI cases: the real ``google-genai`` client on the loopback Gemini stub.

Each ``test_*google_genai*.py`` subclasses :class:`GeminiCases` and states, as
class attributes, what its instrumentation gives (provider name, time to first
token source, whether model responses' tool calls are recorded, what automatic
function calling leaves). Expected tokens follow LaunchDarkly's rule on
Gemini's own usage fields (``gemini_stub.py``): input = ``promptTokenCount``
(cached content already inside it), output = ``candidatesTokenCount`` +
``thoughtsTokenCount``, total = input + output.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gemini_stub as gs
from cases import (
    INPUT,
    OUTPUT,
    TOTAL,
    Cases,
    expect,
    sent_and_inspected,
    ttft_from_spans,
)

MODEL = "gemini-2.5-flash"
THINKING_MODEL = "gemini-2.5-pro"
TOOL = "get_weather"

ONE_CALL = {INPUT: gs.PROMPT_TOKENS, OUTPUT: gs.CANDIDATES_TOKENS, TOTAL: gs.PROMPT_TOKENS + gs.CANDIDATES_TOKENS}
TWO_CALLS = {key: 2 * value for key, value in ONE_CALL.items()}
# Thinking: output = candidates 7 + thoughts 13 (candidatesTokenCount excludes thoughts).
THINKING = {INPUT: 11, OUTPUT: 20, TOTAL: 31}
# Cached content: promptTokenCount 111 already includes cachedContentTokenCount 100.
CACHED = {INPUT: 111, OUTPUT: 7, TOTAL: 118}
# Google Search grounding: toolUsePromptTokenCount 9 is prompt too (total 27), outside promptTokenCount.
SEARCHED = {INPUT: 20, OUTPUT: 7, TOTAL: 27}
assert SEARCHED[INPUT] == gs.PROMPT_TOKENS + gs.TOOL_USE_PROMPT_TOKENS
assert THINKING[OUTPUT] == gs.CANDIDATES_TOKENS + gs.THOUGHTS_TOKENS
assert CACHED[INPUT] == gs.PROMPT_TOKENS + gs.CACHED_TOKENS


# --- What the application does. ------------------------------------------------


def client(stub: gs.GeminiStub):
    """A real ``genai.Client`` on the stub (its documented custom endpoint); no retries.

    Keep it in a variable while calling: a dropped client closes its HTTP client.
    """
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=stub.base_url, retry_options=types.HttpRetryOptions(attempts=1)),
    )


def chat(stub: gs.GeminiStub) -> str:
    gemini = client(stub)
    return gemini.models.generate_content(model=MODEL, contents="Say hello.").text or ""


def async_chat(stub: gs.GeminiStub) -> str:
    async def run() -> str:
        gemini = client(stub)
        response = await gemini.aio.models.generate_content(model=MODEL, contents="Say hello.")
        await gemini.aio.aclose()
        return response.text or ""

    return asyncio.run(run())


def stream(stub: gs.GeminiStub) -> str:
    gemini = client(stub)
    chunks = gemini.models.generate_content_stream(model=MODEL, contents="Say hello.")
    return "".join(chunk.text or "" for chunk in chunks)


def async_stream(stub: gs.GeminiStub) -> str:
    async def run() -> str:
        gemini = client(stub)
        pieces = []
        async for chunk in await gemini.aio.models.generate_content_stream(model=MODEL, contents="Say hello."):
            pieces.append(chunk.text or "")
        await gemini.aio.aclose()
        return "".join(pieces)

    return asyncio.run(run())


def streamed_thinking(stub: gs.GeminiStub) -> str:
    """A thinking model, streamed: the thought summary chunk first; returns the answer's text."""
    from google.genai import types

    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=128)
    )
    gemini = client(stub)
    chunks = gemini.models.generate_content_stream(model=THINKING_MODEL, contents="Say hello.", config=config)
    return "".join(
        part.text or "" for chunk in chunks for part in chunk.candidates[0].content.parts if not part.thought
    )


def _weather_declaration():
    from google.genai import types

    return types.FunctionDeclaration(
        name=TOOL,
        description="Gets the weather for a city.",
        parameters_json_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )


def tool_round_trip(stub: gs.GeminiStub) -> str:
    """The model asks for a function, the app runs it and answers: two calls."""
    from google.genai import types

    gemini = client(stub)
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[_weather_declaration()])])
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    first = gemini.models.generate_content(model=MODEL, contents=contents, config=config)
    call = (first.function_calls or [])[0]
    assert call.name == TOOL and call.args == gs.TOOL_CALL_ARGS
    contents.append(first.candidates[0].content)
    contents.append(
        types.Content(role="user", parts=[types.Part.from_function_response(name=TOOL, response={"temp_c": 21})])
    )
    second = gemini.models.generate_content(model=MODEL, contents=contents, config=config)
    return second.text or ""


def automatic_function_calling(stub: gs.GeminiStub) -> tuple[str, list[str]]:
    """A Python function as the tool: the SDK calls it and asks again, inside one ``generate_content``.

    Returns:
        The answer and the cities the function was called with.
    """
    from google.genai import types

    cities: list[str] = []

    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        cities.append(city)
        return "21C in " + city

    gemini = client(stub)
    response = gemini.models.generate_content(
        model=MODEL, contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    return response.text or "", cities


def thinking(stub: gs.GeminiStub) -> int:
    """A thinking model; returns the response's ``thoughtsTokenCount``."""
    from google.genai import types

    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=128)
    )
    gemini = client(stub)
    response = gemini.models.generate_content(model=THINKING_MODEL, contents="Say hello.", config=config)
    return response.usage_metadata.thoughts_token_count


def cached(stub: gs.GeminiStub) -> int:
    """A call on cached content; returns the response's ``cachedContentTokenCount``."""
    from google.genai import types

    config = types.GenerateContentConfig(cached_content="cachedContents/stub-cache-1")
    gemini = client(stub)
    response = gemini.models.generate_content(model=MODEL, contents="Say hello.", config=config)
    return response.usage_metadata.cached_content_token_count


def google_search(stub: gs.GeminiStub) -> int:
    """A call grounded with Google Search; returns the response's ``toolUsePromptTokenCount``."""
    from google.genai import types

    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    gemini = client(stub)
    response = gemini.models.generate_content(model=MODEL, contents="Say hello.", config=config)
    return response.usage_metadata.tool_use_prompt_token_count


def failing_chat(stub: gs.GeminiStub) -> Exception:
    """A call the stub fails with HTTP 500; the app catches the error."""
    from google.genai import errors

    gemini = client(stub)
    try:
        gemini.models.generate_content(model=gs.ERROR_MODEL, contents="Say hello.")
    except errors.ServerError as exc:
        assert exc.code == 500 and exc.status == "INTERNAL"
        return exc
    raise AssertionError("the stub did not fail")


# --- What the events must be. --------------------------------------------------


class GeminiCases(Cases):
    """``google-genai`` against the Gemini stub, instrumented, inside ``ai_run``."""

    provider: str = ""
    """The provider name the events carry (the instrumentation's)."""
    ttft_source: tuple[str, str] | None = None
    """Where this instrumentation's time to first token comes from; None: nowhere."""
    response_tool_calls: bool = False
    """Whether it records the function calls in model responses."""
    afc_tool_calls: tuple[str, ...] = ()
    """The tool calls automatic function calling leaves a source for."""
    searched_tokens: dict[str, int] = SEARCHED
    """What a Google Search grounded call sends: 20/7/27 where the span has a source for
    ``toolUsePromptTokenCount``."""

    def representative_run(self, stub) -> None:  # type: ignore[override]
        stream(stub)
        tool_round_trip(stub)
        thinking(stub)

    def test_inspect_predicts_exactly_the_events_the_processor_sent(self, stack, gemini_stub, tmp_path):
        with stack.run() as run:
            self.representative_run(gemini_stub)
        sent, predicted = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 5
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)

    def test_chat(self, stack, gemini_stub):
        with stack.run() as run:
            assert chat(gemini_stub) == gs.CHAT_TEXT
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=MODEL, provider=self.provider)

    def test_async_chat(self, stack, gemini_stub):
        with stack.run() as run:
            assert async_chat(gemini_stub) == gs.CHAT_TEXT
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=MODEL, provider=self.provider)

    def test_stream(self, stack, gemini_stub):
        # Every chunk carries usage, running totals (2, 4, 7 candidates): the last one counts, once.
        with stack.run() as run:
            assert stream(gemini_stub) == "".join(piece for piece, _ in gs.STREAM_PIECES)
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source) if self.ttft_source else None,
        )

    def test_async_stream(self, stack, gemini_stub):
        with stack.run() as run:
            assert async_stream(gemini_stub) == "".join(piece for piece, _ in gs.STREAM_PIECES)
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source) if self.ttft_source else None,
        )

    def test_streamed_thinking_tokens_are_output(self, stack, gemini_stub):
        with stack.run() as run:
            assert streamed_thinking(gemini_stub) == "".join(piece for piece, _ in gs.STREAM_PIECES)
        expect(
            stack.events(run),
            run,
            tokens=THINKING,
            success=True,
            model=THINKING_MODEL,
            provider=self.provider,
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source) if self.ttft_source else None,
        )

    def test_tool_round_trip(self, stack, gemini_stub):
        with stack.run() as run:
            assert tool_round_trip(gemini_stub) == gs.CHAT_TEXT
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=MODEL,
            provider=self.provider,
            tool_calls=(TOOL,) if self.response_tool_calls else (),
        )
        assert len(set(gemini_stub.response_ids[-2:])) == 2

    def test_automatic_function_calling(self, stack, gemini_stub):
        # Two HTTP calls inside one generate_content: the SDK returns (and every
        # instrumentation records) only the final response's usage, so the
        # first round's 11/7 has no source.
        requests_before = len(gemini_stub.requests)
        with stack.run() as run:
            answer, cities = automatic_function_calling(gemini_stub)
        assert answer == gs.CHAT_TEXT and cities == ["Paris"]
        assert len(gemini_stub.requests) - requests_before == 2
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=MODEL,
            provider=self.provider,
            tool_calls=self.afc_tool_calls,
        )

    def test_thinking_tokens_are_output(self, stack, gemini_stub):
        with stack.run() as run:
            assert thinking(gemini_stub) == gs.THOUGHTS_TOKENS
        expect(stack.events(run), run, tokens=THINKING, success=True, model=THINKING_MODEL, provider=self.provider)

    def test_cached_content_is_counted_once(self, stack, gemini_stub):
        with stack.run() as run:
            assert cached(gemini_stub) == gs.CACHED_TOKENS
        expect(stack.events(run), run, tokens=CACHED, success=True, model=MODEL, provider=self.provider)

    def test_server_side_tool_prompt_tokens(self, stack, gemini_stub):
        with stack.run() as run:
            assert google_search(gemini_stub) == gs.TOOL_USE_PROMPT_TOKENS
        expect(stack.events(run), run, tokens=self.searched_tokens, success=True, model=MODEL, provider=self.provider)

    def test_http_500_is_an_error(self, stack, gemini_stub):
        with stack.run() as run:
            failing_chat(gemini_stub)
        expect(stack.events(run), run, tokens=None, success=False, model=gs.ERROR_MODEL, provider=self.provider)
