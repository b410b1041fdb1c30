"""Online evaluations through real instrumentations: the judge's text read from their spans.

The app's call goes through the real ``openai`` client, instrumented by the
combination's instrumentation, inside ``ai_run`` of an AI Config with a judge;
ldai runs the judge with ``launchdarkly-server-sdk-ai-openai`` (its own
``AsyncOpenAI``, instrumented too) against the loopback judge stub of the main
suite (``tests/judge_stub.py``), which answers the judge's structured request
with a score. Content capture on: the judge event arrives on the run's runId;
off: no judge runs and the run counts ``no_content``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

JUDGED = "conformance-judged"
RELEVANCE = "conformance-relevance"
RELEVANCE_METRIC = "$ld:ai:judge:relevance"
JUDGED_VARIATION = "v-judged"
JUDGED_VERSION = 7
QUESTION = "What is the capital of France?"
APP_MODEL = "gpt-test"


def _load_judge_stub():
    # By path, under a name of its own: the main suite's folder is not on sys.path here.
    name = "ldai_otel_conformance_judge_stub"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "judge_stub.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


judge_stub = _load_judge_stub()
APP_USAGE = judge_stub.APP_USAGE
JUDGE_USAGE = judge_stub.JUDGE_USAGE


class Judged:
    """What a judged-run test drives: the judge stub, the judged config, the stack."""

    def __init__(self, stack, stub, config):
        self.stack = stack
        self.stub = stub
        self.config = config
        self.trace_id = 0
        """The trace id of the last run :meth:`call` made."""

    def direct_call(self) -> None:
        """One chat call with the real ``openai`` client, as an app makes it."""
        import openai

        client = openai.OpenAI(base_url=self.stub.base_url, api_key="sk-test", max_retries=0)
        try:
            answer = client.chat.completions.create(
                model=APP_MODEL,
                messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
            )
            assert answer.choices[0].message.content == self.stub.answer
        finally:
            client.close()

    def call(self) -> Any:
        """One ``ai_run`` of the judged config around one :meth:`direct_call`; returns the run."""
        from ldai_otel import ai_run

        with ai_run(self.config, self.stack.user) as run:
            self.trace_id = run.span.get_span_context().trace_id
            self.direct_call()
        return run

    def events(self) -> list[dict]:
        """Every event that arrived, after the processor (and its evaluations) and the client flushed."""
        from ldai_otel.testing import flush_events

        flush_events(self.stack.ld_client, self.stack.sink, self.stack.processor)
        return self.stack.sink.events()


@pytest.fixture
def judged(stack, monkeypatch) -> Iterator[Judged]:
    """A judged AI Config (one judge, sampling rate 1) whose judge calls the judge stub."""
    from ldai import LDAIClient
    from ldai.models import AICompletionConfigDefault

    from ldai_otel.testing import add_ai_config, add_judge_config

    with judge_stub.OpenAIStub() as stub:
        # ldai builds each judge's AsyncOpenAI from these at completion_config() time.
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        add_ai_config(
            stack.test_data, JUDGED, variation_key=JUDGED_VARIATION, version=JUDGED_VERSION, judges={RELEVANCE: 1.0}
        )
        add_judge_config(stack.test_data, RELEVANCE, RELEVANCE_METRIC)
        config = LDAIClient(stack.ld_client).completion_config(
            JUDGED, stack.user, AICompletionConfigDefault(enabled=False)
        )
        yield Judged(stack, stub, config)


APP_TOKENS = {
    "$ld:ai:tokens:input": APP_USAGE["prompt_tokens"],
    "$ld:ai:tokens:output": APP_USAGE["completion_tokens"],
    "$ld:ai:tokens:total": APP_USAGE["total_tokens"],
}
"""The app's one call, as LaunchDarkly's token events carry it."""


def expect_judged(events: list[dict], run: Any, *, score: float | None) -> None:
    """Every event of ``run`` (a run or a runId) is the judged config's (:func:`cases.expect`): its
    one call, and the judge's score when given."""
    from cases import expect, of_run

    expect(
        of_run(events, run if isinstance(run, str) else run.run_id),
        run,
        tokens=APP_TOKENS,
        success=True,
        model=APP_MODEL,
        judges=None if score is None else {RELEVANCE_METRIC: (score, RELEVANCE)},
        config_key=JUDGED,
        variation_key=JUDGED_VARIATION,
        version=JUDGED_VERSION,
    )


def judge_totals(events: list[dict]) -> list[tuple[str, int]]:
    """(runId, total tokens) of the judge config's own runs: ldai's tracking of the judge's calls."""
    return [
        (e["data"]["runId"], e["metricValue"])
        for e in events
        if e.get("key") == "$ld:ai:tokens:total"
        and isinstance(e.get("data"), dict)
        and e["data"].get("configKey") == RELEVANCE
    ]


class JudgedRunCases:
    """A judged run with content capture on and off; subclasses say how capture is turned off."""

    def content_capture_off(self, stack, monkeypatch) -> AbstractContextManager[None]:
        """While entered, the instrumentation records no content."""
        raise NotImplementedError

    def test_installed_versions_are_the_pins(self, combo):
        from importlib import metadata

        from cases import pinned_version

        for distribution in combo.packages:
            assert metadata.version(distribution) == pinned_version(combo.environment, distribution)

    def test_a_judged_run_gets_the_judge_event_on_its_runid(self, judged):
        stats_before = dict(judged.stack.processor.evaluation_stats)
        run = judged.call()
        events = judged.events()

        # Exactly the run's own call and the judge's score, with LaunchDarkly's payloads
        # (the judge event: the run's track data plus judgeConfigKey).
        expect_judged(events, run, score=judged.stub.score)
        # The runId is the run's trace id.
        assert run.run_id.replace("-", "") == "%032x" % judged.trace_id
        # The judge saw the text this instrumentation recorded: the question and the answer.
        [request] = judged.stub.judge_requests()
        assert request["messages"][-1]["content"] == "MESSAGE HISTORY:\n%s\n\nRESPONSE TO EVALUATE:\n%s" % (
            QUESTION,
            judged.stub.answer,
        )
        # The judge's tokens (its call is instrumented too) are the judge config's, on a run of its own.
        [(judge_run_id, judge_total)] = judge_totals(events)
        assert judge_total == JUDGE_USAGE["total_tokens"]
        assert judge_run_id != run.run_id
        stats = judged.stack.processor.evaluation_stats
        assert stats["tracked"] == stats_before["tracked"] + 1

    def test_without_content_no_judge_runs_and_it_is_counted(self, judged, monkeypatch):
        stats_before = dict(judged.stack.processor.evaluation_stats)
        with self.content_capture_off(judged.stack, monkeypatch):
            run = judged.call()
            events = judged.events()
        assert judged.stub.judge_requests() == []
        stats = judged.stack.processor.evaluation_stats
        assert stats["no_content"] == stats_before["no_content"] + 1
        assert stats["tracked"] == stats_before["tracked"]
        # The run's own events are all there, and no judge event.
        expect_judged(events, run, score=None)
