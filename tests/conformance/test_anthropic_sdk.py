"""The anthropic SDK 2.15.0's own OpenTelemetry spans (on by default), no instrumentation package.

One ``anthropic.messages.create`` span (scope ``com.anthropic.sdk.python``) per call, on the
global tracer provider, also for ``messages.stream()``: ``gen_ai.usage.input_tokens`` is
Anthropic's ``input_tokens`` plus both cache counts (cache-inclusive), the cache counts under
``gen_ai.usage.cache_read.input_tokens`` / ``cache_write.input_tokens``, the final
``output_tokens`` of a stream, time to first token as ``gen_ai.response.time_to_first_chunk``
(seconds, at the first ``content_block_delta``), ``error.type`` = the API's error type.
Tool calls need ``ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content`` (then
``gen_ai.output.messages``); by default there is no source.
"""

import anthropic_scenarios as scenarios
from anthropic_cases import ONE_CALL, SDK_SCOPE, TWO_CALLS, AnthropicCases, expect
from cases import ATTRIBUTE_S


class TestAnthropicSDK(AnthropicCases):
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = False
    scopes = (SDK_SCOPE,)

    def test_http_500_span_carries_the_api_error_type(self, stack):
        with stack.run() as run:
            scenarios.failing_chat(self.stub, "fail-500")
        stack.events(run)
        (span,) = [s for s in stack.spans(run) if s.instrumentation_scope.name == SDK_SCOPE]
        assert span.attributes["error.type"] == "api_error"
        assert span.attributes["http.response.status_code"] == 500

    def test_content_mode_records_the_requested_tool(self, stack, monkeypatch):
        """With content on, the SDK's spans carry ``gen_ai.output.messages``: the tool call is read from it."""
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE", "content")
        with stack.run() as run:
            assert scenarios.tool_round_trip(self.stub)
        expect(
            stack.events(run), run, tokens=TWO_CALLS, success=True, model=scenarios.MODEL, tool_calls=(scenarios.TOOL,)
        )

    def test_spans_off_by_environment_variable(self, stack, monkeypatch):
        """``ANTHROPIC_OPEN_TELEMETRY=false`` (read when the client is made): no span, so no tokens."""
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
        with stack.run() as run:
            assert scenarios.chat(self.stub)
        # Nothing names the model or the provider either (the AI Config names none).
        expect(stack.events(run), run, tokens=None, success=True, model="", provider="")
        assert [s.instrumentation_scope.name for s in stack.spans(run)] == ["ldai_otel"]

    def test_spans_off_by_client_option(self, stack):
        """``anthropic.Anthropic(open_telemetry=False)``: the same, per client."""
        import anthropic

        client = anthropic.Anthropic(base_url=self.stub.base_url, api_key="k", max_retries=0, open_telemetry=False)
        with stack.run() as run:
            client.messages.create(model=scenarios.MODEL, max_tokens=50, messages=scenarios.MESSAGES)
        expect(stack.events(run), run, tokens=None, success=True, model="", provider="")
        assert [s.instrumentation_scope.name for s in stack.spans(run)] == ["ldai_otel"]

    def test_one_call_is_one_span_with_its_response_id(self, stack):
        with stack.run() as run:
            scenarios.chat(self.stub)
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)
        (span,) = [s for s in stack.spans(run) if s.instrumentation_scope.name == SDK_SCOPE]
        assert span.name == "anthropic.messages.create"
        assert span.attributes["gen_ai.response.id"].startswith("msg_stub_")

    def test_requests_carry_the_sdk_spans_trace_context_and_the_run_baggage(self, stack):
        """Propagation is on by default: Anthropic receives ``traceparent`` and the run's signed baggage,
        never the LaunchDarkly context key (docs/cross-service.md)."""
        from stack import USER_KEY

        with stack.run() as run:
            scenarios.chat(self.stub)
        stack.events(run)
        headers = self.stub.request_headers[-1]
        (span,) = [s for s in stack.spans(run) if s.instrumentation_scope.name == SDK_SCOPE]
        version, trace_id, span_id, _flags = headers["traceparent"].split("-")
        assert (int(trace_id, 16), int(span_id, 16)) == (span.context.trace_id, span.context.span_id)
        assert "ld.ai_config." in headers.get("baggage", ""), headers
        assert USER_KEY not in headers["baggage"]
