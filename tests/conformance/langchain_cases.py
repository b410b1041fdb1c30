"""The LangChain conformance cases, written once and run against every LangChain combination.

Each ``test_langchain_<combination>.py`` subclasses :class:`LangChainCases`
and states, as class attributes, what its instrumentations give. Every case
drives the real ``langchain-openai`` ``ChatOpenAI`` (or a LangGraph ReAct
agent on it), which drives the real ``openai`` client, against
:class:`~langchain_stub.LangChainOpenAIStub` inside ``ai_run``, and asserts
the exact LaunchDarkly events at the sink.

Whatever number of instrumentations see a call, it counts once: a chat is
11 / 7 / 18 tokens, the agent's two model calls 22 / 14 / 36, the batch's
three calls 33 / 21 / 54.
"""

from __future__ import annotations

from collections.abc import Iterator

import langchain_scenarios
import pytest
import scenarios
from cases import (
    INPUT,
    ONE_CALL,
    OUTPUT,
    TOTAL,
    TWO_CALLS,
    Cases,
    expect,
    sent_and_inspected,
    ttft_from_spans,
    ttfts_from_spans,
)
from langchain_stub import LangChainOpenAIStub
from stack import FIRST_CHUNK_DELAY_S

RUN_SCOPE = "ldai_otel"
"""The instrumentation scope of the ``ai_run`` span."""
THREE_CALLS = {INPUT: 33, OUTPUT: 21, TOTAL: 54}


def model_call_spans(spans: list) -> list:
    """The spans of ``spans`` that describe a model call, in any dialect these combinations write."""
    out = []
    for span in spans:
        attributes = span.attributes or {}
        if attributes.get("openinference.span.kind") == "LLM" or attributes.get("gen_ai.operation.name") == "chat":
            out.append(span)
    return out


class LangChainCases(Cases):
    """``ChatOpenAI`` and a LangGraph ReAct agent, instrumented, inside ``ai_run``."""

    ttft_source: tuple[str, str] | None = None
    """Where this combination's time to first token comes from; None: nowhere."""
    spans_per_call: int = 1
    """How many model-call spans one chat call makes (two instrumentations: two)."""

    @pytest.fixture(scope="class")
    def lc_stub(self) -> Iterator[LangChainOpenAIStub]:
        stub = LangChainOpenAIStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
        try:
            yield stub
        finally:
            stub.close()

    def expected_ttft(self, stack, run) -> int | None:
        if self.ttft_source is None:
            return None
        return ttft_from_spans(stack.spans(run), self.ttft_source)

    def expected_ttfts(self, stack, run) -> frozenset[int] | None:
        if self.ttft_source is None:
            return None
        return ttfts_from_spans(stack.spans(run), self.ttft_source)

    def test_inspect_predicts_exactly_the_events_the_processor_sent(self, stack, lc_stub, tmp_path):
        with stack.run() as run:
            langchain_scenarios.stream(lc_stub, stream_usage=True)
            langchain_scenarios.agent_run(lc_stub)
        sent, predicted = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 5
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)

    def test_chat(self, stack, lc_stub):
        with stack.run() as run:
            assert langchain_scenarios.chat(lc_stub) == "Hello from the stub."
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)
        assert len(model_call_spans(stack.spans(run))) == self.spans_per_call

    def test_stream_with_usage(self, stack, lc_stub):
        with stack.run() as run:
            assert langchain_scenarios.stream(lc_stub, stream_usage=True) == "Hello from the stub."
        assert lc_stub.requests[-1][1]["stream_options"] == {"include_usage": True}
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_stream_by_default_has_no_usage_and_no_tokens(self, stack, lc_stub):
        """With a custom ``base_url`` ChatOpenAI leaves ``stream_usage`` off: the API sends no usage."""
        with stack.run() as run:
            assert langchain_scenarios.stream(lc_stub, stream_usage=None) == "Hello from the stub."
        assert "stream_options" not in lc_stub.requests[-1][1]
        expect(
            stack.events(run),
            run,
            tokens=None,
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_react_agent_with_a_tool(self, stack, lc_stub):
        with stack.run() as run:
            assert langchain_scenarios.agent_run(lc_stub) == "Hello from the stub."
        # Two model calls, one tool span: the tool counts once (span, not also the response's request).
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,),
        )

    def test_http_500_is_an_error(self, stack, lc_stub):
        with stack.run() as run:
            error = langchain_scenarios.failing_chat(lc_stub, "fail-500")
        import openai

        # langchain-openai 1.7 re-raises it as its OpenAIAPIError, a subclass of openai's.
        assert isinstance(error, openai.InternalServerError), repr(error)
        expect(stack.events(run), run, tokens=None, success=False, model="fail-500")

    @pytest.mark.parametrize("how", ["batch", "async_batch", "concurrent_streams"])
    def test_batch_of_three_concurrent_calls_counts_each_call_once(self, stack, lc_stub, how):
        before = len(lc_stub.response_ids)
        with stack.run() as run:
            assert getattr(langchain_scenarios, how)(lc_stub) == ["Hello from the stub."] * 3
        # Three distinct calls, held in flight together by the stub's rendezvous.
        assert len(set(lc_stub.response_ids[before:])) == 3
        spans = model_call_spans(stack.spans(run))
        assert len(spans) == 3 * self.spans_per_call
        # Streams: time to first token of the first one, where the combination has a source. The
        # three start together: which is first is a matter of microseconds, and the outer and
        # inner instrumentations' spans may order them differently, so any of the three fits.
        ttft_ms = self.expected_ttfts(stack, run) if how == "concurrent_streams" else None
        expect(stack.events(run), run, tokens=THREE_CALLS, success=True, model=scenarios.MODEL, ttft_ms=ttft_ms)


class TwoSpansPerCall:
    """Mixin for combinations where a LangChain and an OpenAI-client instrumentation both see each call.

    States what the two spans of one ``ChatOpenAI.invoke`` look like, so a change in
    either instrumentation shows here first: both are children of the ``ai_run``
    span (neither is the other's parent), the client span lies within the LangChain
    span's interval, and each carries the call's usage.
    """

    langchain_scope: str = ""
    client_scope: str = ""
    response_id_attributes: dict[str, tuple[str | None, str | None]] = {}
    """Per case (``chat``, ``stream``): the attribute carrying the response id on (LangChain span,
    client span); None: that span has none."""

    @pytest.mark.parametrize("case", ["chat", "stream"])
    def test_each_call_is_two_sibling_spans_with_usage(self, stack, lc_stub, case):
        with stack.run() as run:
            if case == "chat":
                langchain_scenarios.chat(lc_stub)
            else:
                langchain_scenarios.stream(lc_stub, stream_usage=True)
        stack.events(run)
        spans = stack.spans(run)
        root = [s for s in spans if s.instrumentation_scope.name == RUN_SCOPE]
        assert [s.parent for s in root] == [None]
        calls = model_call_spans(spans)
        assert sorted(s.instrumentation_scope.name for s in calls) == sorted((self.langchain_scope, self.client_scope))
        (outer,) = [s for s in calls if s.instrumentation_scope.name == self.langchain_scope]
        (inner,) = [s for s in calls if s.instrumentation_scope.name == self.client_scope]
        assert outer.parent.span_id == root[0].context.span_id
        assert inner.parent.span_id == root[0].context.span_id  # a sibling, not a child of the LangChain span
        assert outer.start_time <= inner.start_time and inner.end_time <= outer.end_time
        response_id = lc_stub.response_ids[-1]
        for span, key in zip((outer, inner), self.response_id_attributes[case], strict=True):
            attributes = span.attributes or {}
            if key is None:
                assert response_id not in attributes.values(), attributes
            else:
                assert attributes[key] == response_id
            usage = (
                attributes.get("llm.token_count.prompt") or attributes.get("gen_ai.usage.input_tokens"),
                attributes.get("llm.token_count.completion") or attributes.get("gen_ai.usage.output_tokens"),
            )
            assert usage == (11, 7), (span.instrumentation_scope.name, attributes)
