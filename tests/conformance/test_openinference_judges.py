"""OpenInference openai 0.1.66, judged runs: the judge's text from ``llm.input_messages.*`` / ``llm.output_messages.*``.

Content capture off is OpenInference's ``TraceConfig`` hiding inputs and
outputs: it writes ``__REDACTED__`` where the content was, which is not content.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from judges_cases import JudgedRunCases, judged  # noqa: F401 (the fixture)


class TestOpenInferenceJudges(JudgedRunCases):
    @contextmanager
    def content_capture_off(self, stack, monkeypatch) -> Iterator[None]:
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor
        from opentelemetry import trace

        hidden = TraceConfig(hide_inputs=True, hide_outputs=True, hide_input_messages=True, hide_output_messages=True)
        provider = trace.get_tracer_provider()
        OpenAIInstrumentor().uninstrument()
        OpenAIInstrumentor().instrument(tracer_provider=provider, config=hidden)
        try:
            yield
        finally:
            OpenAIInstrumentor().uninstrument()
            OpenAIInstrumentor().instrument(tracer_provider=provider)
