"""logfire 5.2.0 ``instrument_openai()``, logfire's own tracer provider with our processor added.

A streamed call's span ends when ``create`` returns; the stream's usage and
length sit on a zero-length log span written when the stream is consumed.
logfire records no time to first token. Responses (tool calls included) are
captured in ``gen_ai.output.messages``.
"""

from cases import OpenAICases


class TestLogfire(OpenAICases):
    ttft_source = None
    response_tool_calls = True

    def test_stream_usage_really_sits_on_a_zero_length_log_span(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.stream(stack.stub, include_usage=True)
        stack.events(run)
        logs = [s for s in stack.spans(run) if (s.attributes or {}).get("logfire.span_type") == "log"]
        assert len(logs) == 1 and logs[0].start_time == logs[0].end_time
        assert logs[0].attributes["gen_ai.usage.input_tokens"] == 11
