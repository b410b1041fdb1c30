"""OpenLLMetry openai, judged runs: the judge's text from where each release puts the content.

0.62.4 (combination ``traceloop-judges``) writes ``gen_ai.input.messages`` /
``gen_ai.output.messages``; 0.52.6 (``traceloop-legacy-judges``) writes
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``. Content capture off is
``TRACELOOP_TRACE_CONTENT=false`` (read on every call by both).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from judges_cases import JudgedRunCases, judged  # noqa: F401 (the fixture)


class TestTraceloopJudges(JudgedRunCases):
    @contextmanager
    def content_capture_off(self, stack, monkeypatch) -> Iterator[None]:
        monkeypatch.setenv("TRACELOOP_TRACE_CONTENT", "false")
        yield
