"""The conformance cases, written once and run against every instrumentation.

Each ``test_<combination>.py`` subclasses :class:`OpenAICases` or
:class:`AgentCases` and states, as class attributes, what that instrumentation
gives: where its time to first token comes from (or that it gives none) and
whether it records the tool calls a model asks for. Every cell of the support
matrix in docs/stacks.md is one of these statements, asserted on the
LaunchDarkly events that reach the loopback sink.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import scenarios
from combos import pinned_version
from stack import CONFIG_KEY, FIRST_CHUNK_DELAY_MS, USER_KEY, VARIATION_KEY, VERSION

DURATION = "$ld:ai:duration:total"
SUCCESS = "$ld:ai:generation:success"
ERROR = "$ld:ai:generation:error"
INPUT = "$ld:ai:tokens:input"
OUTPUT = "$ld:ai:tokens:output"
TOTAL = "$ld:ai:tokens:total"
TTFT = "$ld:ai:tokens:ttf"
TOOL_CALL = "$ld:ai:tool_call"

# What the stub answers (openai_stub.py): per chat call 11 / 7 / 18.
ONE_CALL = {INPUT: 11, OUTPUT: 7, TOTAL: 18}
TWO_CALLS = {INPUT: 22, OUTPUT: 14, TOTAL: 36}
EMBEDDING = {INPUT: 5, TOTAL: 5}  # no output tokens: no output event

ATTRIBUTE_S = "attribute, seconds"
ATTRIBUTE_MS = "attribute, milliseconds"
EVENT = "span event"


def metrics(events: list[dict]) -> dict[str, Any]:
    """Event key -> metricValue (each key once, asserted); tool calls as a list of toolKeys."""
    out: dict[str, Any] = {}
    for event in events:
        key = event["key"]
        if key == TOOL_CALL:
            out.setdefault(key, []).append(event["data"]["toolKey"])
            continue
        assert key not in out, "duplicate %s events: %r" % (key, events)
        out[key] = event["metricValue"]
    return out


def expect(
    events: list[dict],
    run,
    *,
    tokens: dict[str, int] | None,
    success: bool,
    model: str,
    ttft_ms: int | frozenset[int] | None = None,
    tool_calls: tuple[str, ...] = (),
    provider: str = "openai",
    judges: dict[str, tuple[float, str]] | None = None,
    config_key: str = CONFIG_KEY,
    variation_key: str = VARIATION_KEY,
    version: int = VERSION,
    graph_key: str | None = None,
    user_key: str = USER_KEY,
) -> dict[str, Any]:
    """Asserts a run's events are exactly these, with LaunchDarkly's payload shape.

    The one expectation of every conformance stack: a run of the stack's AI
    Config (the defaults), a node run of an agent graph (``config_key`` the
    node's, ``graph_key`` the graph's), a judged run or LaunchDarkly's own
    managed run (``judges``).

    Args:
        events: The run's events (of its runId and config key; any order).
        run: The run (its ``run_id``), or the runId itself (a run ``ManagedModel`` made).
        ttft_ms: The time to first token, or the set it must be one of (calls that
            started together, where which one is first is a matter of microseconds).
        judges: Judge metric key -> (score, judgeConfigKey): the judge events of the run.

    Returns:
        The metrics, for further assertions.
    """
    run_id = run if isinstance(run, str) else run.run_id
    judges = judges or {}
    got = metrics(events)
    expected_keys = {DURATION, SUCCESS if success else ERROR}
    expected_keys.update(tokens or {})
    expected_keys.update(judges)
    if ttft_ms is not None:
        expected_keys.add(TTFT)
    if tool_calls:
        expected_keys.add(TOOL_CALL)
    assert set(got) == expected_keys, got
    for key, value in (tokens or {}).items():
        assert got[key] == value, (key, got)
    for key, (score, _) in judges.items():
        assert got[key] == score, (key, got)
    assert got[SUCCESS if success else ERROR] == 1
    assert isinstance(got[DURATION], int) and got[DURATION] >= 0
    if isinstance(ttft_ms, frozenset):
        assert got[TTFT] in ttft_ms, (ttft_ms, got)
    elif ttft_ms is not None:
        assert got[TTFT] == ttft_ms, got
        # The stub held the first chunk back this long: wrong units would not fit.
        assert got[TTFT] >= FIRST_CHUNK_DELAY_MS, got
        assert got[DURATION] >= got[TTFT] - 1, got  # the run covers its stream (ms rounding aside)
    assert tuple(got.get(TOOL_CALL, ())) == tuple(tool_calls), got
    track_data: dict[str, Any] = {
        "runId": run_id,
        "configKey": config_key,
        "variationKey": variation_key,
        "version": version,
        "modelName": model,
        "providerName": provider,
    }
    if graph_key is not None:
        track_data["graphKey"] = graph_key
    for event in events:
        # LaunchDarkly's tracker data, exactly; a tool call adds its toolKey, a judge result its judgeConfigKey.
        extra: dict[str, Any] = {}
        if event["key"] == TOOL_CALL:
            extra["toolKey"] = event["data"]["toolKey"]
        elif event["key"] in judges:
            extra["judgeConfigKey"] = judges[event["key"]][1]
        assert event["data"] == {**track_data, **extra}, event["data"]
        assert event["kind"] == "custom", event
        assert event["context"] == {"kind": "user", "key": user_key}
    return got


def of_run(events: list[dict], run_id: str, config_key: str | None = None) -> list[dict]:
    """The AI events of one run (and one config key, when given): what :func:`expect` takes."""
    return [
        e
        for e in events
        if isinstance(e.get("data"), dict)
        and e["data"].get("runId") == run_id
        and (config_key is None or e["data"].get("configKey") == config_key)
    ]


def run_ids(events: list[dict], config_key: str) -> list[str]:
    """The runIds of ``config_key``'s events, each once, in arrival order."""
    seen: dict[str, None] = {}
    for event in events:
        data = event.get("data")
        if isinstance(data, dict) and data.get("configKey") == config_key and "runId" in data:
            seen.setdefault(data["runId"], None)
    return list(seen)


def ttfts_from_spans(spans: list, source: tuple[str, str]) -> frozenset[int]:
    """Every time to first token the spans carrying ``source`` report, in ms."""
    return frozenset(ttft_from_spans([span], source) for span in spans if _carries(span, source))


def _carries(span, source: tuple[str, str]) -> bool:
    how, name = source
    if how == EVENT:
        return any(event.name == name for event in span.events)
    return name in (span.attributes or {})


def ttft_from_spans(spans: list, source: tuple[str, str]) -> int:
    """The time to first token the first span carrying ``source`` reports, in ms.

    Read straight from the exported spans, independently of ldai-otel's
    dialects: ``(ATTRIBUTE_S, key)``, ``(ATTRIBUTE_MS, key)`` or ``(EVENT, name)``.
    """
    how, name = source
    for span in spans:  # oldest first
        attributes = span.attributes or {}
        if how == ATTRIBUTE_S and name in attributes:
            return int(round(attributes[name] * 1000.0))
        if how == ATTRIBUTE_MS and name in attributes:
            return int(round(attributes[name]))
        if how == EVENT:
            for event in span.events:
                if event.name == name:
                    return int(round((event.timestamp - span.start_time) / 1e6))
    raise AssertionError("no span of the run carries %s %s" % source)


def sent_and_inspected(stack, run, tmp_path) -> tuple[list, list]:
    """The run's events as sent by the processor, and as ``ldai-otel inspect`` predicts them
    from the run's spans written to an OTLP JSON file: ``(key, metricValue, data)`` each."""
    from ldclient import Context
    from otlp_file import write_otlp_json

    from ldai_otel.inspect.reading import read_file
    from ldai_otel.inspect.runs import RecordingClient, build_runs, emit

    sent = [(e["key"], e["metricValue"], e["data"]) for e in stack.events(run)]
    path = write_otlp_json(stack.spans(run), tmp_path / "spans.jsonl")
    reading = read_file(str(path))
    assert len(reading.traces) == 1 and reading.bad_lines == 0
    reports, outside = build_runs(next(iter(reading.traces.values())), Context.create(USER_KEY))
    assert len(reports) == 1 and not outside
    client = RecordingClient()
    emit(reports[0], client)
    return sent, client.tracked


class Cases:
    """What every combination checks about its environment and ``ldai-otel inspect``."""

    def test_installed_versions_are_the_pins(self, combo):
        for distribution in combo.packages:
            assert metadata.version(distribution) == pinned_version(combo.environment, distribution)

    def representative_run(self, stack) -> None:
        raise NotImplementedError

    def test_inspect_predicts_exactly_the_events_the_processor_sent(self, stack, tmp_path):
        with stack.run() as run:
            self.representative_run(stack)
        sent, predicted = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 5
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)


class OpenAICases(Cases):
    """The real ``openai`` client, instrumented, inside ``ai_run``."""

    ttft_source: tuple[str, str] | None = None
    """Where this instrumentation's time to first token comes from; None: nowhere."""
    response_tool_calls: bool = False
    """Whether it records the tool calls in model responses."""

    def representative_run(self, stack) -> None:
        scenarios.stream(stack.stub, include_usage=True)
        scenarios.tool_round_trip(stack.stub)

    def expected_ttft(self, stack, run) -> int | None:
        if self.ttft_source is None:
            return None
        return ttft_from_spans(stack.spans(run), self.ttft_source)

    def test_chat(self, stack):
        with stack.run() as run:
            assert scenarios.chat(stack.stub)
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)

    def test_async_chat(self, stack):
        with stack.run() as run:
            assert scenarios.async_chat(stack.stub)
        expect(stack.events(run), run, tokens=ONE_CALL, success=True, model=scenarios.MODEL)

    def test_stream_with_usage(self, stack):
        with stack.run() as run:
            assert scenarios.stream(stack.stub, include_usage=True)
        expect(
            stack.events(run),
            run,
            tokens=ONE_CALL,
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_stream_without_usage_has_no_tokens(self, stack):
        with stack.run() as run:
            assert scenarios.stream(stack.stub, include_usage=False)
        expect(
            stack.events(run),
            run,
            tokens=None,
            success=True,
            model=scenarios.MODEL,
            ttft_ms=self.expected_ttft(stack, run),
        )

    def test_tool_round_trip(self, stack):
        with stack.run() as run:
            assert scenarios.tool_round_trip(stack.stub)
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,) if self.response_tool_calls else (),
        )

    def test_http_500_is_an_error(self, stack):
        with stack.run() as run:
            scenarios.failing_chat(stack.stub, "fail-500")  # caught by the app
        expect(stack.events(run), run, tokens=None, success=False, model="fail-500")

    def test_http_429_is_an_error(self, stack):
        with stack.run() as run:
            scenarios.failing_chat(stack.stub, "fail-429")
        expect(stack.events(run), run, tokens=None, success=False, model="fail-429")

    def test_embeddings(self, stack):
        with stack.run() as run:
            assert scenarios.embeddings(stack.stub) == 8
        expect(stack.events(run), run, tokens=EMBEDDING, success=True, model=scenarios.EMBEDDING_MODEL)


class AgentCases(Cases):
    """A pydantic-ai agent with one tool, inside ``ai_run``."""

    ttft_source: tuple[str, str] | None = None

    def representative_run(self, stack) -> None:
        scenarios.agent_stream(stack.stub)

    def test_agent_with_a_tool(self, stack):
        with stack.run() as run:
            assert scenarios.agent_run(stack.stub)
        # Two model calls, 11/7 each; the agent span's aggregate is not added,
        # and the tool call is counted once (tool span, not also the response).
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,),
        )

    def test_streamed_agent_with_a_tool(self, stack):
        with stack.run() as run:
            assert scenarios.agent_stream(stack.stub)
        expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,),
            ttft_ms=ttft_from_spans(stack.spans(run), self.ttft_source) if self.ttft_source else None,
        )

    def test_http_500_is_an_error(self, stack):
        with stack.run() as run:
            scenarios.failing_agent_run(stack.stub, "fail-500")
        expect(stack.events(run), run, tokens=None, success=False, model="fail-500")

    def test_http_429_is_an_error(self, stack):
        with stack.run() as run:
            scenarios.failing_agent_run(stack.stub, "fail-429")
        expect(stack.events(run), run, tokens=None, success=False, model="fail-429")
