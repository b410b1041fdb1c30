"""``ldai-otel demo``'s judged run: a judge attached to the AI Config scores what the run said.

The AI Config's variation lists a judge (``judgeConfiguration``) and the judge
config (mode ``judge``) names its metric, both TestData flags. The run's model
call writes its messages the way an instrumentation with content capture on
does (``gen_ai.input.messages`` / ``gen_ai.output.messages``); the processor
reads the pair from the run's spans and runs the config's evaluator: ldai's own
``Evaluator`` and ``Judge``, so ldai builds the judge's request, parses its
answer and tracks its own tokens under the judge config, and the processor
tracks the result on the run's runId. Only the judge's model is simulated:
ldai picks a judge's model runner by provider package
(``launchdarkly-server-sdk-ai-openai`` for ``openai``), which the plain install
does not have and which would call the network, so the demo hands the judge
:class:`SimulatedJudgeRunner` through ldai's public ``Runner`` interface.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from ldai_otel.model import attributes as A
from ldai_otel.scope import ai_run
from ldai_otel.testing import add_ai_config, add_judge_config

JUDGED_CONFIG = "support-chat-judged"
JUDGE_CONFIG = "relevance-judge"
JUDGE_METRIC = "$ld:ai:judge:relevance"
JUDGE_SCORE = 0.9
QUESTION = "How do I reset my password?"
ANSWER = "Open Settings, choose Security, then Reset password and follow the emailed link."
JUDGE_TOKENS = (95, 24)
"""(input, output) tokens of the simulated judge's own model call."""


def add_flags(td: Any) -> None:
    """The judged AI Config (its judge sampled at 1.0) and the judge config."""
    add_ai_config(
        td,
        JUDGED_CONFIG,
        variation_key="concise-judged",
        version=4,
        model="gpt-4o-mini",
        provider="openai",
        judges={JUDGE_CONFIG: 1.0},
    )
    add_judge_config(td, JUDGE_CONFIG, JUDGE_METRIC, variation_key="relevance-v1", version=1, model="gpt-4o-mini")


class SimulatedJudgeRunner:
    """A judge's model, simulated: ldai's ``Runner`` interface, answering the judge's structured request.

    It writes its own model-call span, as the judge's instrumented provider
    call would: the processor runs judges under an empty context, so that span
    starts a trace of its own and its tokens never join the judged run.
    """

    def __init__(self, tracer: Tracer):
        self._tracer = tracer

    async def run(self, input: str, output_type: dict[str, Any] | None = None) -> Any:  # noqa: A002 (ldai's name)
        from ldai.providers.types import LDAIMetrics, RunnerResult
        from ldai.tracker import TokenUsage

        answer = {"score": JUDGE_SCORE, "reasoning": "The answer tells the user how to reset the password."}
        tokens_in, tokens_out = JUDGE_TOKENS
        attributes: dict[str, str | int] = {
            A.GEN_AI_OPERATION_NAME: "chat",
            A.GEN_AI_PROVIDER_NAME: "openai",
            A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            A.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
        }
        with self._tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
            pass
        usage = TokenUsage(total=tokens_in + tokens_out, input=tokens_in, output=tokens_out)
        return RunnerResult(
            content=json.dumps(answer),
            metrics=LDAIMetrics(success=True, tokens=usage),
            parsed=answer if output_type is not None else None,
        )


def judged_config(ai_client: Any, context: Any, tracer: Tracer) -> Any:
    """The judged AI Config as ``completion_config`` returns it, its judges on the simulated runner.

    The judges are built from the variation's ``judgeConfiguration`` exactly
    as ldai builds them (the judge config from its flag, the sampling rate
    from the variation); only the model runner is the demo's.
    """
    from ldai import Evaluator, Judge
    from ldai.models import AICompletionConfigDefault

    # ldai looks for the judge's provider package here and, on the plain install, warns that it
    # is missing: `ldai-otel demo` keeps the LaunchDarkly SDK's loggers at ERROR (cli.py).
    config = ai_client.completion_config(JUDGED_CONFIG, context, AICompletionConfigDefault(enabled=False))
    runner = SimulatedJudgeRunner(tracer)
    judges = [
        Judge(ai_client.judge_config(judge.key, context), runner, sample_rate=judge.sampling_rate)
        for judge in (config.judge_configuration.judges if config.judge_configuration else [])
    ]
    return dataclasses.replace(config, evaluator=Evaluator(judges))


def run_judged(provider: TracerProvider, ai_client: Any, context: Any, model: Any) -> str:
    """One judged run: a model call whose span carries its messages. Returns the runId."""
    config = judged_config(ai_client, context, provider.get_tracer("ldai_otel.demo.judge"))
    with ai_run(config, context, new_trace=True, tracer_provider=provider) as run:
        model.chat(QUESTION, input_tokens=120, output_tokens=48, answer=ANSWER, capture_content=True)
    return str(run.run_id)


def report(run_id: str, events: list[dict[str, Any]], out: TextIO) -> list[str]:
    """Prints the judge's events as the sink received them; returns what is missing or wrong."""
    judged = [
        e
        for e in events
        if e["key"] == JUDGE_METRIC and e["data"].get("runId") == run_id and e["data"].get("configKey") == JUDGED_CONFIG
    ]
    for event in judged:
        out.write(
            "  judge        %s %s  (judgeConfigKey %s, this run's runId)\n"
            % (event["key"], event["metricValue"], event["data"].get("judgeConfigKey"))
        )
    own = {
        e["key"]: e["metricValue"]
        for e in events
        if e["data"].get("configKey") == JUDGE_CONFIG and e["data"].get("runId") != run_id
    }
    out.write(
        "  judge's own  tokens %s, tracked by ldai under %s (a runId of its own), not in this run\n"
        % (own.get("$ld:ai:tokens:total", "-"), JUDGE_CONFIG)
    )
    problems: list[str] = []
    scores = [(e["metricValue"], e["data"].get("judgeConfigKey")) for e in judged]
    if scores != [(JUDGE_SCORE, JUDGE_CONFIG)]:
        problems.append("judged chat (judge event)")
    if own.get("$ld:ai:tokens:total") != sum(JUDGE_TOKENS):
        problems.append("judged chat (the judge's own tokens)")
    return problems
