"""The Anthropic conformance cases, written once and run against every Anthropic combination.

Each ``test_*anthropic*.py`` subclasses :class:`AnthropicCases` and states, as
class attributes, what its instrumentations give: where time to first token
comes from (or that nothing gives it) and whether the tool calls a model asks
for are recorded. Every row of the "Anthropic" matrix of docs/stacks.md is one of these
statements, asserted on the LaunchDarkly events that reach the loopback sink.

Expected numbers follow LaunchDarkly's token rule: input is every prompt token
of the call, the cache reads and writes included, counted once (the stub's
cached call: 5 uncached + 100 read + 20 written = 125); output is the API's
final ``output_tokens`` (7), never plus ``message_start``'s placeholder (3).
"""

from __future__ import annotations

import functools

import anthropic_scenarios as scenarios
import cases
import pytest
from anthropic_stub import CACHED_USAGE, OUTPUT_TOKENS, PLAIN_USAGE
from cases import (
    INPUT,
    OUTPUT,
    TOTAL,
    Cases,
    ttft_from_spans,
)

PROVIDER = "anthropic"
SDK_SCOPE = "com.anthropic.sdk.python"
OPENINFERENCE_SCOPE = "openinference.instrumentation.anthropic"
TRACELOOP_SCOPE = "opentelemetry.instrumentation.anthropic"

_PLAIN_INPUT = PLAIN_USAGE["input_tokens"]
_CACHED_INPUT = sum(CACHED_USAGE.values())
ONE_CALL = {INPUT: _PLAIN_INPUT, OUTPUT: OUTPUT_TOKENS, TOTAL: _PLAIN_INPUT + OUTPUT_TOKENS}  # 11 / 7 / 18
TWO_CALLS = {key: 2 * value for key, value in ONE_CALL.items()}  # 22 / 14 / 36
CACHED_CALL = {INPUT: _CACHED_INPUT, OUTPUT: OUTPUT_TOKENS, TOTAL: _CACHED_INPUT + OUTPUT_TOKENS}  # 125 / 7 / 132


def plus_output(tokens: dict[str, int], extra: int) -> dict[str, int]:
    """``tokens`` with ``extra`` more output tokens (and total)."""
    return {**tokens, OUTPUT: tokens[OUTPUT] + extra, TOTAL: tokens[TOTAL] + extra}


# The suite's own assertion of a run's events, for this provider.
expect = functools.partial(cases.expect, provider=PROVIDER)


def model_spans(stack, run, scope: str) -> list:
    """The run's spans of one instrumentation scope, oldest first."""
    return [s for s in stack.spans(run) if s.instrumentation_scope and s.instrumentation_scope.name == scope]


class AnthropicCases(Cases):
    """The real ``anthropic`` client, instrumented, inside ``ai_run``."""

    ttft_source: tuple[str, str] | None = None
    """Where the time to first token comes from; None: nowhere (asserted absent)."""
    response_tool_calls: bool = False
    """Whether the tool calls in model responses are recorded."""
    scopes: tuple[str, ...] = ()
    """The instrumentation scopes that write a span per model call."""
    stream_output_overcount: int = 0
    """Output tokens the instrumentation wrongly adds to a ``messages.create(stream=True)`` count.

    OpenLLMetry's bug: ``message_start``'s placeholder plus ``message_delta``'s final count. No
    span carries the right count then, so the wrong one is what any reader of these spans sends;
    the assertion pins it, so an upstream fix shows up here."""
    stream_helper_output_overcount: int = 0
    """The same for ``messages.stream()``."""

    @pytest.fixture(autouse=True)
    def _anthropic(self, anthropic_stub) -> None:
        self.stub = anthropic_stub

    def representative_run(self, stack) -> None:
        scenarios.stream_helper(self.stub)
        scenarios.tool_round_trip(self.stub)
        scenarios.cached_chat(self.stub)

    def expected_ttft(self, stack, run) -> int | None:
        if self.ttft_source is None:
            return None
        return ttft_from_spans(stack.spans(run), self.ttft_source)

    def test_model_call_spans_are_the_combinations(self, stack):
        """Each call has one span per scope the combination names, and none from another (the switch works)."""
        with stack.run() as run:
            assert scenarios.chat(self.stub)
        stack.events(run)
        scopes = sorted(
            s.instrumentation_scope.name
            for s in stack.spans(run)
            if s.instrumentation_scope is not None and s.instrumentation_scope.name != "ldai_otel"
        )
        assert scopes == sorted(self.scopes)

    def test_chat(self, stack):
        with stack.run() as run:
            assert scenarios.chat(self.stub) == "Hello from the stub."
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)

    def test_stream(self, stack):
        """``messages.create(stream=True)``: output is message_delta's final count, not plus message_start's."""
        with stack.run() as run:
            assert scenarios.stream(self.stub) == "Hello from the stub."
        expect(
            stack.events(run),
            run,
            tokens=plus_output(ONE_CALL, self.stream_output_overcount),
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_stream_helper(self, stack):
        """``messages.stream()``: one call, counted once."""
        with stack.run() as run:
            assert scenarios.stream_helper(self.stub) == ("Hello from the stub.", OUTPUT_TOKENS)
        expect(
            stack.events(run),
            run,
            tokens=plus_output(ONE_CALL, self.stream_helper_output_overcount),
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_async_chat(self, stack):
        with stack.run() as run:
            assert scenarios.async_chat(self.stub) == "Hello from the stub."
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)

    def test_async_stream_helper(self, stack):
        with stack.run() as run:
            assert scenarios.async_stream_helper(self.stub) == ("Hello from the stub.", OUTPUT_TOKENS)
        expect(
            stack.events(run),
            run,
            tokens=plus_output(ONE_CALL, self.stream_helper_output_overcount),
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_tool_use_round_trip(self, stack):
        """tool_use -> tool_result -> answer: two calls; the requested tool once where recorded."""
        with stack.run() as run:
            assert scenarios.tool_round_trip(self.stub) == "Hello from the stub."
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,) if self.response_tool_calls else (),
        )

    def test_prompt_caching_counts_cache_reads_and_writes_as_input(self, stack):
        with stack.run() as run:
            assert scenarios.cached_chat(self.stub) == (5, 100, 20)  # the API's own usage fields
        expect(stack.events(run), run, tokens=CACHED_CALL, success=True, model=scenarios.MODEL)

    def test_prompt_caching_on_a_stream(self, stack):
        with stack.run() as run:
            assert scenarios.cached_stream(self.stub) == (5, 100, 20, OUTPUT_TOKENS)
        expect(
            stack.events(run),
            run,
            tokens=plus_output(CACHED_CALL, self.stream_helper_output_overcount),
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_http_500_is_an_error(self, stack):
        import anthropic

        with stack.run() as run:
            error = scenarios.failing_chat(self.stub, "fail-500")  # caught by the app
        assert isinstance(error, anthropic.InternalServerError) and error.type == "api_error", error
        expect(stack.events(run), run, tokens=None, success=False, model="fail-500")

    def test_http_529_overloaded_is_an_error(self, stack):
        import anthropic

        with stack.run() as run:
            error = scenarios.failing_chat(self.stub, "fail-529")
        assert isinstance(error, anthropic.APIStatusError) and error.status_code == 529, error
        assert error.type == "overloaded_error", error
        expect(stack.events(run), run, tokens=None, success=False, model="fail-529")
