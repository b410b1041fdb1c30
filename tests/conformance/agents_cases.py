"""Conformance cases for the OpenAI Agents SDK, on the Responses API and on Chat Completions.

Each ``test_<combination>.py`` of an agents instrumentation subclasses
:class:`AgentsSDKCases`. Every case runs once per API. Expected values follow
LaunchDarkly's rules: each model call's tokens once whatever number of
instrumentations saw it (Responses: 30 / 12 / 42 per call, cached and
reasoning tokens already inside; Chat Completions: 11 / 7 / 18), one tool call
for the specialist's function tool and none for the handoff (a handoff is an
agent-graph edge, not a tool call, as in LaunchDarkly's own agent runners).
"""

from __future__ import annotations

import agents_scenarios
import pytest
import responses_stub
from agents_scenarios import APIS, CHAT_COMPLETIONS, RESPONSES
from cases import INPUT, OUTPUT, TOTAL, Cases, expect, ttft_from_spans
from openai_stub import COMPLETION_TOKENS, PROMPT_TOKENS

PER_CALL = {
    RESPONSES: {
        INPUT: responses_stub.INPUT_TOKENS,
        OUTPUT: responses_stub.OUTPUT_TOKENS,
        TOTAL: responses_stub.TOTAL_TOKENS,
    },
    CHAT_COMPLETIONS: {INPUT: PROMPT_TOKENS, OUTPUT: COMPLETION_TOKENS, TOTAL: PROMPT_TOKENS + COMPLETION_TOKENS},
}
HANDOFF_CALLS = 3
"""Triage (hands off), specialist (calls the tool), specialist (answers)."""
MODEL_PATHS = {RESPONSES: "/v1/responses", CHAT_COMPLETIONS: "/v1/chat/completions"}


def tokens(api: str, calls: int) -> dict[str, int]:
    return {key: value * calls for key, value in PER_CALL[api].items()}


def tokens_if(recorded: bool, api: str, calls: int) -> dict[str, int] | None:
    """The tokens of ``calls`` model calls, or None where no span records usage (no event is right)."""
    return tokens(api, calls) if recorded else None


class AgentsSDKCases(Cases):
    """The OpenAI Agents SDK, instrumented, inside ``ai_run``."""

    ttft_source: dict[str, tuple[str, str] | None] = {RESPONSES: None, CHAT_COMPLETIONS: None}
    """Where this combination's time to first token comes from, per API; None: nowhere."""
    error_model: dict[str, str] = {RESPONSES: "fail-500", CHAT_COMPLETIONS: "fail-500"}
    """The modelName of a failed call's events, per API: "" where no span names the model."""
    usage_apis: tuple[str, ...] = APIS
    """The APIs on which a span of this combination carries the calls' usage; elsewhere no token event."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _sdk_exports_land_on_the_stub(cls, stack):
        """Points the SDK's own trace exporter at the stub: any export it made would be seen there."""
        import agents
        from agents.tracing.processors import default_exporter

        default_exporter().endpoint = stack.stub.base_url + "/traces/ingest"
        agents.set_tracing_export_api_key("test-key")

    def representative_run(self, stack) -> None:
        agents_scenarios.handoff_run(stack.stub, RESPONSES)
        agents_scenarios.streamed_handoff_run(stack.stub, CHAT_COMPLETIONS)

    @pytest.mark.parametrize("api", APIS)
    def test_handoff_and_tool(self, stack, api):
        with stack.run() as run:
            result = agents_scenarios.handoff_run(stack.stub, api)
        assert result.final_output == "Hello from the stub."
        assert result.last_agent.name == agents_scenarios.SPECIALIST
        expect(
            stack.events(run),
            run,
            tokens=tokens_if(api in self.usage_apis, api, HANDOFF_CALLS),
            success=True,
            model=agents_scenarios.MODEL,
            tool_calls=(agents_scenarios.TOOL,),  # the function tool once; the handoff is no tool call
        )

    @pytest.mark.parametrize("api", APIS)
    def test_plain_chat(self, stack, api):
        with stack.run() as run:
            assert agents_scenarios.chat_run(stack.stub, api) == "Hello from the stub."
        expect(
            stack.events(run),
            run,
            tokens=tokens_if(api in self.usage_apis, api, 1),
            success=True,
            model=agents_scenarios.MODEL,
        )

    @pytest.mark.parametrize("api", APIS)
    def test_http_500_is_an_error(self, stack, api):
        before = len(stack.stub.requests)
        with stack.run() as run:
            agents_scenarios.failing_run(stack.stub, api, "fail-500")  # caught by the app
        assert [path for path, _ in stack.stub.requests[before:]] == [MODEL_PATHS[api]]  # no retry
        expect(stack.events(run), run, tokens=None, success=False, model=self.error_model[api])

    @pytest.mark.parametrize("api", APIS)
    def test_streamed_handoff_and_tool(self, stack, api):
        with stack.run() as run:
            result = agents_scenarios.streamed_handoff_run(stack.stub, api)
        assert result.final_output == "Hello from the stub."
        source = self.ttft_source[api]
        expect(
            stack.events(run),
            run,
            tokens=tokens_if(api in self.usage_apis, api, HANDOFF_CALLS),
            success=True,
            model=agents_scenarios.MODEL,
            tool_calls=(agents_scenarios.TOOL,),
            ttft_ms=ttft_from_spans(stack.spans(run), source) if source else None,
        )

    @pytest.mark.parametrize("api", APIS)
    def test_nothing_goes_to_openais_trace_ingest(self, stack, api):
        import agents

        before = len(stack.stub.requests)
        agents_scenarios.handoff_run(stack.stub, api)
        agents.flush_traces()  # the SDK's exporter, were it still registered, posts now
        paths = {path for path, _ in stack.stub.requests[before:]}
        assert paths == {MODEL_PATHS[api]}, paths
