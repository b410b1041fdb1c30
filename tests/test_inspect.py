"""``ldai-otel inspect``: OTLP JSON files in, the processor's events out, as a user runs it.

Files are written by real exporters from real SDK spans: the OTLP JSON file
exporter (``opentelemetry-exporter-otlp-json-file``, hex ids, one request per
line, like the Collector's file exporter) and protobuf's ``MessageToJson`` of
the OTLP encoder's ``ExportTraceServiceRequest`` (base64 ids). The spans went
through a real ``LDAISpanProcessor`` whose events reached the loopback sink;
inspect must predict exactly those events, and ``--send`` must deliver them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest
from conftest import CHAT, JUDGE
from genai import chat, tool
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otlp_json import FileSpanExporter

from ldai_otel import ai_run

RUN_LINE = re.compile(r"^  run ([0-9a-f-]{36})  config (\S+)")
EVENT_LINE = re.compile(r"^      (\$ld:ai:\S+)\s+(\d+)(?:  toolKey (\S+))?$")


def inspect_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldai_otel.cli", "inspect", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def printed_events(output: str) -> dict[tuple[str, str], list[tuple]]:
    """(runId, config key) -> [(event key, metricValue, toolKey or None)] from inspect's output."""
    runs: dict[tuple[str, str], list[tuple]] = {}
    current = None
    for line in output.splitlines():
        match = RUN_LINE.match(line)
        if match:
            current = runs.setdefault((match.group(1), match.group(2)), [])
            continue
        match = EVENT_LINE.match(line)
        if match and current is not None:
            current.append((match.group(1), int(match.group(2)), match.group(3)))
    return runs


def sent_events(events: list[dict]) -> dict[tuple[str, str], list[tuple]]:
    runs: dict[tuple[str, str], list[tuple]] = {}
    for event in events:
        data = event["data"]
        runs.setdefault((data["runId"], data["configKey"]), []).append(
            (event["key"], event["metricValue"], data.get("toolKey"))
        )
    return runs


def same(a: dict, b: dict) -> bool:
    return {k: sorted(v, key=repr) for k, v in a.items()} == {k: sorted(v, key=repr) for k, v in b.items()}


@pytest.fixture
def recorded(make_provider, chat_config, judge_config, user, ld_client, sink, exporter):
    """Two runs and some GenAI spans outside any run; returns (events sent, spans, OTLP JSON lines)."""
    from ldai_otel.testing import flush_events

    provider, processor = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 12, 8)
        with tool(tracer, "get_weather"):
            pass
        # A stream without usage, and a span that looks GenAI but no dialect knows.
        chat(tracer, None, None, ttft_s=0.05, extra={"gen_ai.is_streaming": True})
        unknown = {"gen_ai.request.model": "x", "gen_ai.usage.input_tokens": 3}
        tracer.start_span("acme.generate", attributes=unknown).end()
        chat(tracer, 5, 5, extra={"gen_ai.usage.total_tokens": "ten"})
    with ai_run(judge_config, user, tracer_provider=provider, new_trace=True):
        chat(tracer, 3, 1, model="judge-model", error=True)
    with tracer.start_as_current_span("request"):
        chat(tracer, 40, 2)  # GenAI, but in no run
    events = flush_events(ld_client, sink, processor)
    return events, exporter.get_finished_spans(), stream.getvalue()


def test_inspect_predicts_exactly_the_events_the_processor_sent(recorded, tmp_path):
    events, _, lines = recorded
    path = tmp_path / "traces.jsonl"
    path.write_text(lines)
    assert lines.count("\n") >= 8 and '"traceId":"' in lines  # one request per line, hex ids

    result = inspect_cli(str(path))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    predicted = printed_events(out)
    assert len(predicted) == 2
    assert same(predicted, sent_events(events))
    assert "would be sent (nothing sent; --send sends them)" in out
    # Why tokens are missing:
    assert "1 streamed call(s) carried no usage" in out and "include_usage" in out
    assert "acme.generate looks like GenAI" in out and "register an extractor" in out
    assert "gen_ai.usage.total_tokens='ten'" in out
    assert "not in any run: 1 GenAI span(s)" in out and "input 40, output 2" in out


def test_message_to_json_files_and_pretty_printed_and_gzipped_files_read_the_same(recorded, tmp_path):
    events, spans, _ = recorded
    request = encode_spans(list(spans))
    compact = tmp_path / "base64.jsonl"
    compact.write_text(MessageToJson(request, indent=None) + "\n")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(MessageToJson(request, indent=2))
    zipped = tmp_path / "traces.jsonl.gz"
    zipped.write_bytes(gzip.compress(compact.read_bytes()))
    for path in (compact, pretty, zipped):
        result = inspect_cli(str(path))
        assert result.returncode == 0, result.stderr
        assert same(printed_events(result.stdout), sent_events(events)), path.name


def test_send_delivers_the_same_events_through_a_real_client(recorded, tmp_path, sink, user):
    events, _, lines = recorded
    path = tmp_path / "traces.jsonl"
    path.write_text(lines)
    sink.clear()

    result = inspect_cli(
        str(path),
        "--send",
        "--events-uri",
        sink.uri,
        "--context-key",
        user.key,
        env={"LAUNCHDARKLY_SDK_KEY": "sdk-inspect-test"},
    )

    assert result.returncode == 0, result.stderr
    assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:error")
    resent = sink.ai_events()
    assert same(sent_events(resent), sent_events(events))
    assert {(e["context"]["kind"], e["context"]["key"]) for e in resent} == {("user", "user-42")}
    originals = {(e["key"], e["data"]["runId"]): e["data"] for e in events}
    for event in resent:
        data = dict(event["data"])
        original = dict(originals[(event["key"], data["runId"])])
        # The ai_run span carries the config's model and provider, so the judge
        # run says anthropic (the config's) although its chat span said openai.
        assert data == original
    assert "event(s) sent" in result.stdout


def test_send_without_an_sdk_key_is_refused(recorded, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(recorded[2])
    env = {k: v for k, v in os.environ.items() if k != "LAUNCHDARKLY_SDK_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "ldai_otel.cli", "inspect", str(path), "--send"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "LAUNCHDARKLY_SDK_KEY" in result.stderr


def test_a_trace_spread_over_many_lines_streams_and_adds_up(make_provider, chat_config, user, tmp_path):
    provider, _ = make_provider()
    lines: list[str] = []

    class LineExporter:
        """Writes each batch of 50 spans as one line, like a batching exporter."""

        def __init__(self):
            self.batch = []

        def export(self, spans):
            self.batch.extend(spans)
            if len(self.batch) >= 50:
                self.flush()

        def flush(self):
            if self.batch:
                lines.append(MessageToJson(encode_spans(self.batch), indent=None))
                self.batch = []

        def shutdown(self):
            self.flush()

    line_exporter = LineExporter()
    provider.add_span_processor(SimpleSpanProcessor(line_exporter))
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        for _ in range(1000):
            chat(tracer, 2, 1)
    line_exporter.flush()
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\nnot json\n")

    result = inspect_cli(str(path))

    assert result.returncode == 0
    (only,) = printed_events(result.stdout).values()
    got = {key: value for key, value, _ in only}
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (2000, 1000, 3000)
    assert "1001 span(s), 1 trace(s) read" in result.stdout
    assert "1 line(s) were not OTLP JSON spans" in result.stderr
    assert "... and 980 more" in result.stdout


def test_progress_is_drawn_on_a_terminal_only(recorded, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(recorded[2])
    assert "reading" not in inspect_cli(str(path)).stderr  # a pipe: no progress

    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "ldai_otel.cli", "inspect", str(path)],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
        )
        out, _ = process.communicate(timeout=60)
        os.close(slave)
        slave = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert process.returncode == 0
    assert b"reading traces.jsonl:" in drawn and b"spans" in drawn
    assert "reading" not in out


def recorded_lines_for(tmp_path) -> str:
    """One OTLP JSON line holding a small run, from real SDK spans through a real processor."""
    from ldai.models import AICompletionConfigDefault
    from ldclient import Context
    from ldclient.integrations.test_data import TestData

    from ldai_otel import LDAISpanProcessor
    from ldai_otel.testing import LDEventSink, add_ai_config, sink_client

    td = TestData.data_source()
    add_ai_config(td, "file-config")
    with LDEventSink() as sink:
        client = sink_client(sink, td)
        try:
            from ldai import LDAIClient
            from opentelemetry.sdk.trace import TracerProvider

            provider = TracerProvider()
            provider.add_span_processor(LDAISpanProcessor(client))
            stream = io.StringIO()
            provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
            user = Context.create("u")
            config = LDAIClient(client).completion_config("file-config", user, AICompletionConfigDefault(enabled=False))
            with ai_run(config, user, tracer_provider=provider):
                chat(provider.get_tracer("app"), 1, 1)
            provider.shutdown()
        finally:
            client.close()
    return stream.getvalue()


def test_unreadable_input_is_reported_not_raised(tmp_path):
    missing = inspect_cli(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"resourceSpans": []}\n' * 1000)[:60])
    result = inspect_cli(str(truncated))
    assert result.returncode == 1 and "cannot read" in result.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}\n[1, 2]\n')
    result = inspect_cli(str(garbage))
    assert result.returncode == 1
    assert "2 line(s) were not OTLP JSON spans" in result.stderr
    # A broken first line does not hide the lines after it.
    first_broken = tmp_path / "first_broken.jsonl"
    first_broken.write_text("{not json\n" + recorded_lines_for(tmp_path))
    result = inspect_cli(str(first_broken))
    assert result.returncode == 0 and "1 line(s) were not OTLP JSON spans" in result.stderr
    assert "run " in result.stdout
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = inspect_cli(str(empty))
    assert result.returncode == 1 and "0 span(s), 0 trace(s) read" in result.stdout
    assert "empty.jsonl holds no OTLP traces: it has nothing (the file is empty)" in result.stderr


def test_token_attributes_the_rule_rejects_are_named_cache_and_reasoning_keys_included(
    make_provider, chat_config, user, ld_client, sink, tmp_path
):
    """inspect names exactly the token attributes the dialects ignore (``model.values``'s rule, every token key)."""
    from ldai_otel.testing import flush_events

    provider, processor = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        # Not whole; beyond int64 (as OTLP carries it: a double); beyond int64 by a little.
        chat(tracer, 3.5, 2.0**64, extra={"gen_ai.usage.total_tokens": 9.3e18})
        # Valid counts with a junk cache read, a junk reasoning count, and 9.2e18 (within int64: a count).
        subsets = {
            "gen_ai.usage.cache_read.input_tokens": -1,
            "llm.token_count.completion_details.reasoning": "7",
            "gen_ai.usage.cache_creation.input_tokens": 9.2e18,
        }
        chat(tracer, 4, 2, extra=subsets)
    events = flush_events(ld_client, sink, processor)
    path = tmp_path / "junk.jsonl"
    path.write_text(stream.getvalue())

    result = inspect_cli(str(path))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert same(printed_events(out), sent_events(events))  # the processor ignored the same values
    junk = "note: chat gpt-test: ignored token attribute(s) that are not counts: "
    assert [line.strip() for line in out.splitlines() if "not counts" in line] == [
        junk + "gen_ai.usage.input_tokens=3.5, gen_ai.usage.output_tokens=1.8446744073709552e+19, "
        "gen_ai.usage.total_tokens=9.3e+18",
        junk + "gen_ai.usage.cache_read.input_tokens=-1, llm.token_count.completion_details.reasoning='7'",
    ]
    tokens = {key: value for key, value, _ in next(iter(printed_events(out).values())) if "tokens" in key}
    assert tokens == {"$ld:ai:tokens:input": 4, "$ld:ai:tokens:output": 2, "$ld:ai:tokens:total": 6}


def test_junk_token_keys_follow_the_count_rule():
    """The int forms a decoder may hand over too: beyond int64, a bool; a valid count is never named."""
    from ldai_otel.inspect.reading import _junk_token_keys

    attrs = {
        "gen_ai.usage.input_tokens": 2**64,
        "gen_ai.usage.output_tokens": True,
        "gen_ai.usage.total_tokens": 2**63 - 1,
        "gen_ai.usage.cache_creation.input_tokens": float("nan"),
        "gen_ai.usage.reasoning.output_tokens": 9.2e18,
        "gen_ai.aggregated_usage.input_tokens": -2,
    }
    assert _junk_token_keys(attrs) == (
        "gen_ai.usage.input_tokens=18446744073709551616",
        "gen_ai.usage.output_tokens=True",
        "gen_ai.usage.cache_creation.input_tokens=nan",
        "gen_ai.aggregated_usage.input_tokens=-2",
    )


def test_a_user_extractor_is_loaded_for_inspect(make_provider, chat_config, user, tmp_path):
    provider, _ = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    with ai_run(chat_config, user, tracer_provider=provider):
        provider.get_tracer("acme").start_span("acme", attributes={"acme.llm": True, "acme.in": 9}).end()
    path = tmp_path / "acme.jsonl"
    path.write_text(stream.getvalue())
    module = tmp_path / "acme_dialect.py"
    module.write_text(
        "from ldai_otel import Observation\n"
        "def extract(span, attrs):\n"
        "    if attrs.get('acme.llm') is not True:\n"
        "        return None\n"
        "    return Observation(kind='model', input_tokens=attrs.get('acme.in'), dialect='acme')\n"
    )
    result = inspect_cli(str(path), "--extractor", "acme_dialect:extract", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    got = {key: value for key, value, _ in next(iter(printed_events(result.stdout).values()))}
    assert got["$ld:ai:tokens:input"] == 9
    assert "[model, acme]" in result.stdout
    bad = inspect_cli(str(path), "--extractor", "nope")
    assert bad.returncode == 2
    bad_context = inspect_cli(str(path), "--context-kind", "kind")
    assert bad_context.returncode == 2 and "invalid context" in bad_context.stderr


def test_judge_runs_and_spans_outside_runs_are_per_trace(recorded, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(recorded[2])
    out = inspect_cli(str(path)).stdout
    traces = [block for block in out.split("\n\n") if block.startswith("trace ")]
    assert len(traces) == 3
    assert sum("config " + CHAT in t for t in traces) == 1
    assert sum("config " + JUDGE in t for t in traces) == 1
    assert sum("no run: no span carries ld.ai_config.* attributes" in t for t in traces) == 1


def test_config_model_and_provider_stamped_on_run_spans_are_used(make_provider, judge_config, user, tmp_path):
    provider, _ = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    with ai_run(judge_config, user, tracer_provider=provider) as run:
        run.span.set_attributes({"ld.ai_config.model_name": "judge-model", "ld.ai_config.provider_name": "anthropic"})
        chat(provider.get_tracer("app"), 3, 1, model="some-deployment")
    path = tmp_path / "judge.jsonl"
    path.write_text(stream.getvalue())
    out = inspect_cli(str(path)).stdout
    assert "modelName 'judge-model', providerName 'anthropic'\n" in out


def _stamps_only_on_ai_run_spans(lines: str) -> str:
    """The OTLP JSON lines with ld.ai_config.* removed from every span but the ai_run spans.

    The processor stamps a run's local root and its GenAI spans, not the
    other spans of the run; with the stamps left on the roots alone, inspect
    must find every member through its parent chain.
    """
    out = []
    stripped = 0
    for line in lines.splitlines():
        document = json.loads(line)
        for resource_spans in document["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                if scope_spans["scope"]["name"] == "ldai_otel":
                    continue
                for span in scope_spans["spans"]:
                    kept = [a for a in span.get("attributes", []) if not a["key"].startswith("ld.ai_config.")]
                    stripped += len(span.get("attributes", [])) - len(kept)
                    span["attributes"] = kept
        out.append(json.dumps(document))
    assert stripped  # the file had stamped non-GenAI run spans to strip
    return "\n".join(out) + "\n"


def test_membership_comes_from_parent_chains_not_from_stamps(
    make_provider, chat_config, judge_config, user, ld_client, sink, tmp_path
):
    from ldai_otel.testing import flush_events

    provider, processor = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        with tracer.start_as_current_span("handler"):
            with tracer.start_as_current_span("retrieval"):
                chat(tracer, 12, 8)
            with tool(tracer, "get_weather"):
                pass
            # An inner run under a plain span: its spans are its own, not the outer run's.
            with ai_run(judge_config, user, tracer_provider=provider):
                with tracer.start_as_current_span("judge step"):
                    chat(tracer, 3, 1, model="judge-model")
        chat(tracer, 5, 5)
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("inner"):
            chat(tracer, 40, 2)  # GenAI, but in no run
    events = flush_events(ld_client, sink, processor)
    path = tmp_path / "chains.jsonl"
    path.write_text(_stamps_only_on_ai_run_spans(stream.getvalue()))

    result = inspect_cli(str(path))

    assert result.returncode == 0, result.stderr
    predicted = printed_events(result.stdout)
    assert len(predicted) == 2
    assert same(predicted, sent_events(events))
    by_config = {
        config: dict((k, v) for k, v, _ in evs if k != "$ld:ai:tool_call") for (_, config), evs in predicted.items()
    }
    assert by_config[CHAT]["$ld:ai:tokens:total"] == 30
    assert by_config[JUDGE]["$ld:ai:tokens:total"] == 4
    assert "not in any run: 1 GenAI span(s)" in result.stdout
