"""OpenLLMetry opentelemetry-instrumentation-openai 0.52.6: the legacy ``llm.*`` dialect.

``llm.request.type`` instead of ``gen_ai.operation.name``, ``gen_ai.system``,
``llm.usage.total_tokens``; time to first token from the first
``llm.content.completion.chunk`` event; tool calls from
``gen_ai.completion.<i>.tool_calls.<j>.name``.
"""

from cases import EVENT, OpenAICases


class TestTraceloopLegacy(OpenAICases):
    ttft_source = (EVENT, "llm.content.completion.chunk")
    response_tool_calls = True

    def test_spans_use_the_legacy_request_type(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.chat(stack.stub)
        stack.events(run)
        chat = [s for s in stack.spans(run) if (s.attributes or {}).get("llm.request.type") == "chat"]
        assert chat and "gen_ai.operation.name" not in chat[0].attributes
