"""What ``ldai-otel inspect`` prints: per trace, the runs, their GenAI spans, events and notes."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ldai_otel.model.observation import AGENT, MODEL, TOOL, Observation
from ldai_otel.model.run import RESUMED
from ldai_otel.rules.calls import model_calls

if TYPE_CHECKING:
    from ldai_otel.inspect.reading import SpanRecord, TraceRecord
    from ldai_otel.inspect.runs import RunReport

MAX_LISTED = 20
"""Most model calls or spans listed per run or trace; the rest are counted."""


def _tokens(obs: Observation) -> str:
    if not obs.has_usage:
        return "no usage"
    parts = [
        "input " + ("-" if obs.input_tokens is None else str(obs.input_tokens)),
        "output " + ("-" if obs.output_tokens is None else str(obs.output_tokens)),
    ]
    if obs.total_tokens is not None:
        parts.append("total " + str(obs.total_tokens))
    if obs.cache_read_tokens:
        parts.append("cache read " + str(obs.cache_read_tokens))
    if obs.cache_write_tokens:
        parts.append("cache write " + str(obs.cache_write_tokens))
    if obs.reasoning_tokens:
        parts.append("reasoning " + str(obs.reasoning_tokens))
    return ", ".join(parts)


def _span_line(record: SpanRecord) -> str:
    obs = record.observation
    if obs is None:
        return "%s  [not recognized: %s]" % (record.name, ", ".join(record.genai_keys[:6]))
    bits = [record.name, "[" + obs.kind + ", " + (obs.dialect or "extractor") + "]"]
    if obs.kind == MODEL:
        bits.append(_tokens(obs))
        if obs.time_to_first_token_ms is not None:
            bits.append("first token %.0f ms" % obs.time_to_first_token_ms)
        if obs.response_tool_calls:
            bits.append("asked for " + ", ".join(obs.response_tool_calls))
    elif obs.kind == TOOL:
        bits.append("tool " + (obs.tool_name or "?"))
    elif obs.has_usage:
        bits.append("aggregate " + _tokens(obs))
    if obs.error:
        bits.append("ERROR")
    return "  ".join(bits)


def _calls(report: RunReport) -> list[list[SpanRecord]]:
    """The run's model calls, grouped by the rule book's own rule (one call counts once)."""
    records = {id(s.observation): s for s in report.spans if s.observation is not None}
    segment = report.segment
    return [[records[id(o)] for o in call] for call in model_calls(segment.observations, segment.parents)]


def diagnose(report: RunReport) -> list[str]:
    """Why a run's metrics may be missing or surprising; empty when nothing stands out."""
    notes = []
    spans = report.spans
    calls = _calls(report)
    agents = [s for s in spans if s.observation is not None and s.observation.kind == AGENT]
    unknown = [s for s in spans if s.observation is None and s.genai_keys]
    summary = report.summary
    if not calls:
        notes.append(
            "no model-call span in this run: is a GenAI instrumentation installed, on the tracer "
            "provider that has LDAISpanProcessor, and are the calls made inside the ai_run block?"
        )
    # logfire ends a streamed call's span at once; the stream's usage is on a
    # later log span under the same parent, so that span's lack is expected.
    logfire_stream_parents = {s.parent_id for s in spans if s.logfire_log}
    streamed = failed = other = 0
    for call in calls:
        if any(s.observation.has_usage for s in call):  # type: ignore[union-attr]
            continue
        if any(s.error for s in call):
            failed += 1
        elif any(s.streaming for s in call):
            streamed += 1
        elif not all(s.logfire_span and s.parent_id in logfire_stream_parents for s in call):
            other += 1
    if streamed:
        notes.append(
            "%d streamed call(s) carried no usage: OpenAI-compatible streams report usage only "
            'when asked, stream_options={"include_usage": True}' % streamed
        )
    if failed:
        notes.append("%d failed call(s) carried no usage (failed calls have none)" % failed)
    if other:
        notes.append(
            "%d model call(s) carried no usage: the instrumentation recorded none (a stream not "
            "consumed to its end, or a dialect whose usage attributes are unknown: see docs/dialects.md)" % other
        )
    for call in calls:
        for record in call:
            if record.junk:
                notes.append(
                    "%s: ignored token attribute(s) that are not counts: %s" % (record.name, ", ".join(record.junk))
                )
    if (
        summary is not None
        and summary.has_tokens
        and not any(s.observation is not None and s.observation.has_usage for call in calls for s in call)
        and any(s.observation is not None and s.observation.has_usage for s in agents)
    ):
        notes.append("tokens come from agent spans' aggregate usage: no model-call span had usage")
    if any(len(call) > 1 for call in calls):
        notes.append("nested model-call spans (two instrumentations on one call) are counted once")
    for record in unknown[:MAX_LISTED]:
        notes.append(
            "%s looks like GenAI (%s) but no dialect recognizes it: register an extractor "
            "(LDAISpanProcessor(extractors=...), inspect --extractor)" % (record.name, ", ".join(record.genai_keys[:4]))
        )
    if report.segment.role == RESUMED:
        notes.append(
            "resumed segment (service %s): duration and success/error are the origin's to emit" % report.service
        )
    return notes


def judge_lines(report: RunReport) -> list[str]:
    """Which judges the processor runs on this run and whether the spans carry their text (lengths only)."""
    judges = next((s.judges for s in report.spans if s.judges), ())
    if not judges:
        return []
    lines = ["judges: %s (the processor runs them; serve does not)" % ", ".join(judges)]
    calls = [s for s in report.spans if s.observation is not None and s.observation.kind == MODEL]
    found = [s for s in calls if isinstance(s.content, tuple)]
    if found:
        last = max(found, key=lambda s: s.end_ns)
        lengths = last.content
        assert isinstance(lengths, tuple)
        lines.append(
            "judged text: input %d chars, output %d chars, from the last model call with content (%s)"
            % (lengths[0], lengths[1], last.name)
        )
    elif any(s.content == "redacted" for s in calls):
        lines.append("judged text: none, the content is redacted: no judge runs unless the app hands the text")
    else:
        lines.append(
            "judged text: none, no message content on the model-call spans: no judge runs unless the "
            "app hands the text (run.set_evaluation_text) or content capture is turned on"
        )
    return lines


def print_trace(
    out: TextIO,
    trace: TraceRecord,
    reports: list[RunReport],
    outside: list[SpanRecord],
    sent: bool,
) -> None:
    """Writes one trace's runs, events and notes."""
    w = out.write
    w(
        "trace %032x  (%d span(s) read, services: %s)\n"
        % (trace.trace_id, len(trace.spans) + trace.other_spans, ", ".join(sorted(trace.services)))
    )
    if not reports:
        w("  no run: no span carries ld.ai_config.* attributes\n")
    for report in reports:
        binding = report.segment.binding
        info = binding.info
        w(
            "  run %s  config %s  variation %s  version %d  (service %s, %s)\n"
            % (
                binding.run_id,
                info.config_key,
                info.variation_key or "-",
                info.version,
                report.service,
                report.segment.role,
            )
        )
        genai = sorted((s for s in report.spans if s.observation is not None), key=lambda s: s.start_ns)
        w("    spans: %d in the run, %d GenAI\n" % (len(report.spans), len(genai)))
        for record in genai[:MAX_LISTED]:
            w("      " + _span_line(record) + "\n")
        if len(genai) > MAX_LISTED:
            w("      ... and %d more\n" % (len(genai) - MAX_LISTED))
        w("    events %s:\n" % ("sent" if sent else "the processor sends"))
        if not report.events:
            w("      (none)\n")
        for key, value, data in report.events:
            suffix = "  toolKey " + str(data.get("toolKey")) if "toolKey" in data else ""
            if info.graph is not None:
                from ldai_otel.rules.graphs import event_note

                suffix += event_note(data)
            w("      %-26s %s%s\n" % (key, value, suffix))
        if report.events:
            data = report.events[0][2]
            w(
                "      modelName %r, providerName %r%s\n"
                % (
                    data.get("modelName", ""),
                    data.get("providerName", ""),
                    ""
                    if info.model_name or info.provider_name
                    else " (from the spans: the AI Config's own, which the processor sends, are not in them)",
                )
            )
        for line in judge_lines(report):
            w("    " + line + "\n")
        if info.graph is not None:
            from ldai_otel.rules.graphs import describe

            for line in describe(report.segment, info.graph):
                w("    " + line + "\n")
        for note in diagnose(report):
            w("    note: " + note + "\n")
    if outside:
        w("  not in any run: %d GenAI span(s), so no metrics from them\n" % len(outside))
        for record in outside[:MAX_LISTED]:
            w("      %s  (service %s)\n" % (_span_line(record), record.service))
        if len(outside) > MAX_LISTED:
            w("      ... and %d more\n" % (len(outside) - MAX_LISTED))
        w(
            "    note: no run root (a span with ld.ai_config.* attributes) is above these spans in their "
            "own service: they started outside an ai_run block, in a trace the run did not reach, or in "
            "a process whose tracer provider has no LDAISpanProcessor or that did not receive the run's "
            "baggage (spans of a run's trace in such a service are counted by ldai-otel serve)\n"
        )
