"""``ldai-otel demo``: a handful of runs, offline, with events delivered to a local sink.

Nothing here talks to LaunchDarkly or a model provider: a TestData source
stands in for the AI Configs, :class:`SimulatedChatModel` writes the spans a
GenAI instrumentation would, a simulated model answers the judge of the judged
run (``demo/judged.py``), and the events go to a loopback sink. The report is
read back from the events that arrived, not from what we meant to send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode, Tracer

from ldai_otel.demo import graph as _demo_graph
from ldai_otel.demo import judged as _demo_judged
from ldai_otel.dialects.content import GEN_AI_INPUT_MESSAGES, GEN_AI_OUTPUT_MESSAGES
from ldai_otel.model import attributes as A
from ldai_otel.processor import LDAISpanProcessor
from ldai_otel.scope import ai_run
from ldai_otel.testing import LDEventSink, add_ai_config, flush_events, sink_client

CHAT_CONFIG = "support-chat"
AGENT_CONFIG = "weather-agent"
JUDGED = "judged chat (its judge scores what the run said)"


class ModelError(Exception):
    """What the simulated provider raises for a failed call (like an HTTP 500)."""


class SimulatedChatModel:
    """Writes spans the way OpenTelemetry GenAI instrumentations do.

    Args:
        tracer: The tracer to write spans with.
        model: Request model name.
        latency_s: Simulated time per call.
    """

    def __init__(self, tracer: Tracer, model: str = "gpt-4o-mini", latency_s: float = 0.02):
        self._tracer = tracer
        self._model = model
        self._latency_s = latency_s

    def _attributes(self) -> dict[str, Any]:
        return {
            A.GEN_AI_OPERATION_NAME: "chat",
            A.GEN_AI_PROVIDER_NAME: "openai",
            A.GEN_AI_REQUEST_MODEL: self._model,
        }

    def chat(
        self,
        prompt: str,
        *,
        fail: bool = False,
        input_tokens: int = 0,
        output_tokens: int = 0,
        answer: str = "",
        capture_content: bool = False,
    ) -> str:
        """One chat completion; raises :class:`ModelError` when ``fail``.

        With ``capture_content``, the span carries the messages as an
        instrumentation with content capture on writes them
        (``gen_ai.input.messages`` / ``gen_ai.output.messages``).
        """
        answer = answer or "simulated answer to: " + prompt
        with self._tracer.start_as_current_span(
            "chat " + self._model,
            attributes=self._attributes(),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            time.sleep(self._latency_s)
            if fail:
                span.set_attribute(A.ERROR_TYPE, "InternalServerError")
                span.set_status(Status(StatusCode.ERROR, "Error code: 500"))
                raise ModelError("simulated HTTP 500 from the provider")
            span.set_attribute(A.GEN_AI_RESPONSE_MODEL, self._model)
            span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, input_tokens or len(prompt.split()) * 3)
            span.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens or 42)
            if capture_content:
                span.set_attribute(GEN_AI_INPUT_MESSAGES, _messages("user", prompt))
                span.set_attribute(GEN_AI_OUTPUT_MESSAGES, _messages("assistant", answer, finish_reason="stop"))
            return answer

    def stream(self, prompt: str, chunks: int = 5) -> Iterator[str]:
        """A streamed chat completion; the span ends when the stream is consumed.

        Like real instrumentations, the span starts at the call (inside the
        caller's context), not at the first ``next()``.
        """
        span = self._tracer.start_span("chat " + self._model, attributes=self._attributes())
        return self._chunks(span, prompt, chunks)

    def _chunks(self, span: Any, prompt: str, chunks: int) -> Iterator[str]:
        start = time.perf_counter()
        try:
            for i in range(chunks):
                time.sleep(self._latency_s / 2)
                if i == 0:
                    span.set_attribute(A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, time.perf_counter() - start)
                yield "chunk-%d " % i
            span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, len(prompt.split()) * 3)
            span.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, chunks * 4)
        finally:
            span.end()

    def run_tool(self, name: str, fn: Callable[[], str]) -> str:
        """Executes a tool the model asked for, as an ``execute_tool`` span."""
        with self._tracer.start_as_current_span(
            "execute_tool " + name,
            attributes={A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: name},
        ):
            return fn()


def _messages(role: str, text: str, **extra: str) -> str:
    """One message in the GenAI semantic conventions' JSON form (a list of messages with parts)."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}], **extra}])


@dataclass
class RunReport:
    """One run, as read back from the events that arrived at the sink."""

    title: str
    run_id: str
    trace_id: str
    config_key: str
    variation_key: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if "$ld:ai:generation:error" in self.metrics:
            return "error"
        if "$ld:ai:generation:success" in self.metrics:
            return "success"
        return "missing"


def _run_scenarios(provider: TracerProvider, ai_client: Any, context: Any) -> list[tuple[str, str, str]]:
    """Runs the demo's scenarios; returns (title, config key, run id) per run."""
    tracer = provider.get_tracer("ldai_otel.demo")
    model = SimulatedChatModel(tracer)
    from ldai.models import AICompletionConfigDefault

    chat_config = ai_client.completion_config(CHAT_CONFIG, context, AICompletionConfigDefault(enabled=False))
    agent_config = ai_client.completion_config(AGENT_CONFIG, context, AICompletionConfigDefault(enabled=False))
    runs: list[tuple[str, str, str]] = []

    with ai_run(chat_config, context, new_trace=True, tracer_provider=provider) as run:
        model.chat("How do I reset my password?", input_tokens=120, output_tokens=48)
    runs.append(("plain chat", CHAT_CONFIG, run.run_id))

    run_id = _demo_judged.run_judged(provider, ai_client, context, model)
    runs.append((JUDGED, _demo_judged.JUDGED_CONFIG, run_id))

    with ai_run(agent_config, context, new_trace=True, tracer_provider=provider) as run:
        model.chat("What is the weather in Paris?", input_tokens=210, output_tokens=18)
        model.run_tool("get_weather", lambda: "18C, clear")
        model.chat("Tool said 18C, clear", input_tokens=260, output_tokens=35)
    runs.append(("tool call", AGENT_CONFIG, run.run_id))

    with ai_run(chat_config, context, new_trace=True, tracer_provider=provider) as run:
        stream = model.stream("Tell me a short story")
    # Consumed after the scope exits, as a web framework streaming a response would.
    "".join(stream)
    runs.append(("streamed", CHAT_CONFIG, run.run_id))

    with ai_run(chat_config, context, new_trace=True, tracer_provider=provider) as run:
        try:
            model.chat("This call fails", fail=True)
        except ModelError:
            pass  # the app shows a fallback answer; the generation still failed
    runs.append(("failing model call (caught by the app)", CHAT_CONFIG, run.run_id))
    return runs


def _reports(runs: list[tuple[str, str, str]], events: list[dict[str, Any]]) -> list[RunReport]:
    reports = []
    for title, config_key, run_id in runs:
        report = RunReport(title, run_id, run_id.replace("-", ""), config_key)
        for event in events:
            data = event["data"]
            if data.get("runId") != run_id or data.get("configKey") != config_key:
                continue
            report.variation_key = data.get("variationKey", "")
            if event["key"] == "$ld:ai:tool_call":
                report.tool_calls.append(data.get("toolKey", "?"))
            else:
                report.metrics[event["key"]] = event["metricValue"]
        reports.append(report)
    return reports


def _print_report(reports: list[RunReport], events: list[dict[str, Any]], out: TextIO) -> list[str]:
    """Prints the runs; returns what is missing or wrong in the judged run's judge events."""
    problems: list[str] = []

    def metric(report: RunReport, key: str, unit: str = "") -> str:
        value = report.metrics.get(key)
        return "-" if value is None else "%s%s" % (value, unit)

    out.write(
        "ldai-otel demo: %d runs (one judged) and one agent-graph run, "
        "%d AI events received by the local LaunchDarkly sink\n\n" % (len(reports), len(events))
    )
    for report in reports:
        out.write("run: %s\n" % report.title)
        out.write("  runId        %s\n" % report.run_id)
        out.write("  trace id     %s\n" % report.trace_id)
        out.write("  config       %s  (variation %s)\n" % (report.config_key, report.variation_key or "-"))
        out.write(
            "  tokens       input %s, output %s, total %s\n"
            % (
                metric(report, "$ld:ai:tokens:input"),
                metric(report, "$ld:ai:tokens:output"),
                metric(report, "$ld:ai:tokens:total"),
            )
        )
        out.write("  duration     %s\n" % metric(report, "$ld:ai:duration:total", " ms"))
        out.write("  first token  %s\n" % metric(report, "$ld:ai:tokens:ttf", " ms"))
        out.write("  tool calls   %s\n" % (", ".join(report.tool_calls) or "-"))
        out.write("  outcome      %s\n" % report.outcome)
        if report.title == JUDGED:
            problems += _demo_judged.report(report.run_id, events, out)
        out.write("\n")
    return problems


def run_demo(out: TextIO) -> int:
    """Runs the demo and prints the report; returns the process exit code."""
    from ldai import LDAIClient
    from ldclient import Context
    from ldclient.integrations.test_data import TestData

    with LDEventSink() as sink:
        td = TestData.data_source()
        add_ai_config(td, CHAT_CONFIG, variation_key="concise", version=4, model="gpt-4o-mini", provider="openai")
        add_ai_config(td, AGENT_CONFIG, variation_key="tools-on", version=2, model="gpt-4o-mini", provider="openai")
        _demo_graph.add_flags(td)
        _demo_judged.add_flags(td)
        ld_client = sink_client(sink, td, sdk_key="sdk-demo-offline")
        provider = TracerProvider()
        processor = LDAISpanProcessor(ld_client)
        provider.add_span_processor(processor)
        try:
            context = Context.builder("demo-user").name("Demo User").build()
            ai_client = LDAIClient(ld_client)
            runs = _run_scenarios(provider, ai_client, context)
            model = SimulatedChatModel(provider.get_tracer("ldai_otel.demo"))
            graph_run_id = _demo_graph.run_graph(provider, ai_client, context, model)
            events = flush_events(ld_client, sink, processor, timeout_s=15)
            graph_events = [e for e in sink.events() if str(e.get("key", "")).startswith("$ld:ai:graph:")]
        finally:
            provider.shutdown()
            ld_client.close()

    reports = _reports(runs, [e for e in events if e["data"].get("runId") != graph_run_id])
    judge_problems = _print_report(reports, events, out)
    graph_problems = _demo_graph.report(graph_run_id, events, graph_events, out)
    expected = {
        "plain chat": "success",
        JUDGED: "success",
        "tool call": "success",
        "streamed": "success",
        "failing model call (caught by the app)": "error",
    }
    problems = [r.title for r in reports if r.outcome != expected.get(r.title)]
    problems += [r.title for r in reports if "$ld:ai:duration:total" not in r.metrics]
    stream = next(r for r in reports if r.title == "streamed")
    if "$ld:ai:tokens:ttf" not in stream.metrics:
        problems.append("streamed (no time to first token)")
    tool = next(r for r in reports if r.title == "tool call")
    if tool.tool_calls != ["get_weather"]:
        problems.append("tool call (no tool-call event)")
    judged = next(r for r in reports if r.title == JUDGED)
    if judged.metrics.get("$ld:ai:tokens:total") != 168:  # the run's own call only, not the judge's
        problems.append("judged chat (its tokens)")
    problems += judge_problems + graph_problems
    if problems:
        out.write("FAILED: events missing or wrong for: %s\n" % ", ".join(sorted(set(problems))))
        return 1
    out.write("OK: every run's events arrived at the sink.\n")
    return 0
