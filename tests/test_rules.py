"""The rule book's guards (issue 16): one validation rule for every numeric fact,
bounded JSON, and a segment that is never lost to one bad value or one failing rule.

Spans are made by a real TracerProvider and go through a real LDAISpanProcessor
and a real LDClient to the loopback sink; the events asserted are those at the sink.
"""

from __future__ import annotations

import json
import logging

import pytest
from genai import RUN_KEYS, chat, values

from ldai_otel import ai_run
from ldai_otel.model import attributes as A
from ldai_otel.model.values import (
    MAX_COUNT,
    MAX_JSON_DEPTH,
    MAX_NAME_CHARS,
    bounded_json,
    json_depth,
    valid_count,
    valid_ms,
)
from ldai_otel.rules import book as _rules


def tool_call_messages(name: str = "get_weather") -> str:
    return json.dumps([{"role": "assistant", "parts": [{"type": "tool_call", "name": name, "arguments": {}}]}])


def deep_messages(depth: int) -> str:
    # A valid document nested `depth` deep that still carries a tool_call part.
    return "[" * depth + tool_call_messages() + "]" * depth


# --- One validation rule -----------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        (0, 0),
        (12, 12),
        (MAX_COUNT, MAX_COUNT),
        (12.0, 12),
        (2**63, None),
        (2**64, None),
        (10**30, None),
        (1e19, None),
        (9.223372036854775807e18, None),  # the float nearest to 2**63-1 is 2**63
        (12.5, None),
        (float("nan"), None),
        (float("inf"), None),
        (-1, None),
        (-0.0, 0),
        (True, None),
        ("12", None),
        ([12], None),
    ],
)
def test_a_count_is_a_whole_number_in_the_int64_range(value, expected):
    assert valid_count(value, "k") == expected


@pytest.mark.parametrize(
    "value,scale,expected",
    [
        (0.03, 1000.0, 30.0),
        (86_400, 1000.0, 86_400_000.0),
        (86_400.001, 1000.0, None),
        (1.797e308, 1000.0, None),  # finite in seconds, infinite in ms
        (10**400, 1000.0, None),  # an int beyond the float range
        (5e-324, 1000.0, 5e-324 * 1000.0),  # tiny but valid
        (-0.1, 1.0, None),
        (float("nan"), 1.0, None),
        (False, 1.0, None),
        ("1", 1.0, None),
    ],
)
def test_a_time_is_finite_and_at_most_a_day_after_unit_conversion(value, scale, expected):
    assert valid_ms(value, "k", scale) == expected


@pytest.mark.parametrize("bad", [2**63, 2**64, 10**30, 1e30, 3.5])
def test_a_count_beyond_int64_is_ignored_and_the_rest_of_the_run_arrives(
    provider, tracer, chat_config, user, collect, caplog, bad
):
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, bad, 7, ttft_s=0.25)
    got = values(collect())
    assert "$ld:ai:tokens:input" not in got
    assert (got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (7, 7)
    assert got["$ld:ai:tokens:ttf"] == 250
    assert got["$ld:ai:generation:success"] == 1 and "$ld:ai:duration:total" in got
    assert "ignoring attribute gen_ai.usage.input_tokens" in caplog.text


def test_an_overflowing_time_to_first_token_no_longer_costs_the_run(
    provider, tracer, chat_config, user, collect, caplog
):
    # 1.797e308 s is finite but infinite in ms: it used to raise in summarize
    # and lose the whole segment.
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 11, 7, ttft_s=1.797e308)
            chat(tracer, 1, 1, extra={"ai.response.msToFirstChunk": 86_400_001.0})
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (12, 8, 20)
    assert "$ld:ai:tokens:ttf" not in got
    assert got["$ld:ai:generation:success"] == 1 and "$ld:ai:duration:total" in got
    assert "ignoring attribute gen_ai.response.time_to_first_chunk: not a finite non-negative number" in caplog.text
    assert "ignoring attribute ai.response.msToFirstChunk: longer than a day" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_token_sums_beyond_int64_are_dropped_not_sent(provider, tracer, chat_config, user, collect, caplog):
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, MAX_COUNT, 1)
            chat(tracer, MAX_COUNT, 1)
    got = values(collect())
    assert not [k for k in got if k.startswith("$ld:ai:tokens:")]
    assert got["$ld:ai:generation:success"] == 1 and "$ld:ai:duration:total" in got
    assert "their sum is beyond the int64 range" in caplog.text


def test_a_tool_name_longer_than_the_bound_is_cut_and_the_call_still_counts(
    provider, tracer, chat_config, user, collect
):
    # A tool name of kilobytes would be copied into an event's payload: it is cut to the bound.
    with ai_run(chat_config, user, tracer_provider=provider):
        for name in ("t" * (MAX_NAME_CHARS + 1), "get_weather"):
            attributes = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: name}
            tracer.start_span("execute_tool", attributes=attributes).end()
    assert values(collect())["$ld:ai:tool_call"] == ["t" * MAX_NAME_CHARS, "get_weather"]


@pytest.mark.parametrize(
    "name,span_name,expected",
    [
        ("", "", "unknown"),
        (42, "", "unknown"),
        (["a", "b"], "", "unknown"),
        (None, "", "unknown"),
        ("", "execute_tool lookup", "execute_tool lookup"),
        (3.5, "s" * (MAX_NAME_CHARS + 5), "s" * MAX_NAME_CHARS),
    ],
)
def test_a_tool_span_without_a_usable_name_still_counts_its_call(
    provider, tracer, chat_config, user, collect, name, span_name, expected
):
    # The tool ran: an unusable name costs the name, never the tool_call event.
    with ai_run(chat_config, user, tracer_provider=provider):
        attributes = {A.GEN_AI_OPERATION_NAME: "execute_tool"}
        if name is not None:
            attributes[A.GEN_AI_TOOL_NAME] = name
        tracer.start_span(span_name, attributes=attributes).end()
        tracer.start_span("execute_tool", attributes={**attributes, A.GEN_AI_TOOL_NAME: "get_weather"}).end()
    assert values(collect())["$ld:ai:tool_call"] == [expected, "get_weather"]


# --- Bounded JSON --------------------------------------------------------------------


def test_json_depth_counts_brackets_outside_strings():
    assert json_depth("[]") == 1
    assert json_depth('[{"a": [1, {"b": []}]}]') == 5
    assert json_depth('["[[[[[[", "{{{{", "\\"[[[["]') == 1
    assert json_depth("[" * 5000) == 5000
    assert json_depth("not json") == 0


def test_bounded_json_parses_real_documents_and_refuses_deep_or_huge_ones():
    assert bounded_json(tool_call_messages(), "k")[0]["role"] == "assistant"
    assert bounded_json(deep_messages(MAX_JSON_DEPTH - 5), "k") is not None
    assert bounded_json(deep_messages(MAX_JSON_DEPTH), "k") is None
    assert bounded_json("[" * 100_000 + "]" * 100_000, "k") is None  # RecursionError before the bound
    assert bounded_json(json.dumps(["x" * (1 << 20)]), "k") is None
    assert bounded_json("[1,", "k") is None


def test_deep_output_messages_drop_only_the_tool_calls_not_the_span(
    provider, tracer, chat_config, user, collect, caplog
):
    # Nested deeper than the recursion limit: json.loads used to raise
    # RecursionError, which lost the span's tokens and first token too.
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            for _ in range(20):
                chat(tracer, 11, 7, ttft_s=0.03, extra={"gen_ai.output.messages": deep_messages(200_000)})
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"]) == (220, 140)
    assert got["$ld:ai:tokens:ttf"] == 30
    assert "$ld:ai:tool_call" not in got
    lines = [r for r in caplog.records if "gen_ai.output.messages: JSON nested deeper" in r.getMessage()]
    assert len(lines) == 1  # rate-limited: one line for twenty spans
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_shallow_copy_of_the_same_tool_call_is_still_read(provider, tracer, chat_config, user, collect):
    # The control for the test above: the bound does not drop real documents.
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 11, 7, extra={"gen_ai.output.messages": tool_call_messages()})
    assert values(collect())["$ld:ai:tool_call"] == ["get_weather"]


# --- A guard around each fact ---------------------------------------------------------


def test_a_failing_rule_loses_only_its_fact_with_one_log_line(
    provider, tracer, chat_config, user, collect, caplog, monkeypatch
):
    def broken(*args):
        raise ZeroDivisionError("a bug in one rule")

    monkeypatch.setattr(_rules, "_time_to_first_token", broken)
    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        for _ in range(5):
            with ai_run(chat_config, user, tracer_provider=provider, new_trace=True):
                chat(tracer, 11, 7, ttft_s=0.03, extra={"gen_ai.output.messages": tool_call_messages()})
    events = collect()
    runs = {e["data"]["runId"] for e in events}
    assert len(runs) == 5
    for run_id in runs:
        got = values([e for e in events if e["data"]["runId"] == run_id])
        assert sorted(got) == RUN_KEYS
        assert (got["$ld:ai:tokens:input"], got["$ld:ai:tool_call"]) == (11, ["get_weather"])
    lines = [r for r in caplog.records if "computing time to first token of a run failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is not None


def test_a_failing_call_grouping_still_counts_every_span(
    provider, tracer, chat_config, user, collect, caplog, monkeypatch
):
    def broken(*args):
        raise RuntimeError("grouping bug")

    monkeypatch.setattr(_rules, "_model_calls", broken)
    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 11, 7)
            chat(tracer, 1, 1, error=True)
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"]) == (12, 8)
    assert got["$ld:ai:generation:error"] == 1
    assert "grouping the model calls of a run failed" in caplog.text


def test_a_failing_fact_reader_loses_only_that_fact_of_the_span(
    provider, tracer, chat_config, user, collect, caplog, monkeypatch
):

    def broken(*args):
        raise RecursionError("reader bug")

    from ldai_otel.dialects import reader as _dialects

    monkeypatch.setattr(_dialects, "response_tool_calls", broken)
    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            for _ in range(3):
                chat(tracer, 11, 7, ttft_s=0.03, extra={"gen_ai.output.messages": tool_call_messages()})
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:ttf"]) == (33, 30)
    assert "$ld:ai:tool_call" not in got
    lines = [r for r in caplog.records if "reading response tool calls from a span failed" in r.getMessage()]
    assert len(lines) == 1


def test_exception_lines_are_rate_limited_per_code_path_not_per_run(caplog):
    from ldai_otel._ratelimit import RateLimitedLogger

    limiter = RateLimitedLogger(logging.getLogger("ldai_otel.test"))
    with caplog.at_level(logging.ERROR, logger="ldai_otel.test"):
        for run in range(100):
            try:
                raise ValueError(run)
            except ValueError:
                limiter.exception("ldai-otel: emitting run %s failed", "run-%d" % run)
        try:
            raise KeyError("other")
        except KeyError:
            limiter.exception("ldai-otel: emitting run %s failed", "run-x")
    assert [r.getMessage() for r in caplog.records] == [
        "ldai-otel: emitting run run-0 failed",
        "ldai-otel: emitting run run-x failed",
    ]
    assert limiter.size == 2
