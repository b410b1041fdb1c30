"""LaunchDarkly's ``ManagedModel`` (launchdarkly-server-sdk-ai 1.2.0) inside ``ai_run``, OpenInference openai on.

``ManagedModel.run`` tracks its own run (its own runId) and runs the config's
judges itself; it writes no span saying so. Every model call must still be
counted exactly once and every run judged once: the processor leaves spans
made under a managed call out of any run (the model call, the judges' calls),
and an ``ai_run`` whose only work was the managed call sends nothing.
"""

import asyncio

from cases import of_run, run_ids
from judges_cases import (
    JUDGE_USAGE,
    JUDGED,
    QUESTION,
    RELEVANCE_METRIC,
    expect_judged,
    judge_totals,
    judged,  # noqa: F401 (the fixture)
)


def _managed_call(stack, judged, *, direct_call_too: bool):  # noqa: F811
    from ldai import LDAIClient

    from ldai_otel import ai_run

    model = LDAIClient(stack.ld_client).create_model(JUDGED, stack.user)
    assert model is not None

    async def go():
        with ai_run(judged.config, stack.user) as run:
            if direct_call_too:
                judged.direct_call()
            result = await model.run(QUESTION)
            assert result.content == judged.stub.answer
            results = await result.evaluations
        assert [(r.sampled, r.success) for r in results] == [(True, True)]
        return run

    sink_before = len(stack.sink.events())
    run = asyncio.run(go())
    return run, judged.events()[sink_before:]


class TestManagedModel:
    def test_installed_versions_are_the_pins(self, combo):
        from importlib import metadata

        from cases import pinned_version

        for distribution in combo.packages:
            assert metadata.version(distribution) == pinned_version(combo.environment, distribution)

    def test_a_managed_call_inside_ai_run_is_counted_once_and_judged_once(self, stack, judged):  # noqa: F811
        run, events = _managed_call(stack, judged, direct_call_too=False)
        # One run: ManagedModel's own (its runId, not the ai_run's); the ai_run sent nothing.
        [managed_run_id] = run_ids(events, JUDGED)
        assert managed_run_id != run.run_id
        assert of_run(events, run.run_id) == []
        expect_judged(events, managed_run_id, score=judged.stub.score)
        # The judge ran once (ManagedModel's), its own tokens once, under the judge config.
        assert len(judged.stub.judge_requests()) == 1
        assert [total for _, total in judge_totals(events)] == [JUDGE_USAGE["total_tokens"]]
        judge_events = [e for e in events if e.get("key") == RELEVANCE_METRIC]
        assert [e["data"]["runId"] for e in judge_events] == [managed_run_id]

    def test_a_direct_call_next_to_a_managed_call_each_counted_and_judged_once(self, stack, judged):  # noqa: F811
        stats_before = dict(stack.processor.evaluation_stats)
        run, events = _managed_call(stack, judged, direct_call_too=True)
        ids = run_ids(events, JUDGED)
        assert run.run_id in ids and len(ids) == 2
        for run_id in ids:
            # The ai_run's direct call and ManagedModel's call: each run has exactly one call's tokens, judged.
            expect_judged(events, run_id, score=judged.stub.score)
        # Two judge calls: one per run (the processor's for the ai_run, ManagedModel's for its own).
        assert len(judged.stub.judge_requests()) == 2
        assert stack.processor.evaluation_stats["tracked"] == stats_before["tracked"] + 1
        assert sorted(total for _, total in judge_totals(events)) == [JUDGE_USAGE["total_tokens"]] * 2
