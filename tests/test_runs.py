"""The run model (docs/design.md, "The run model") and metric rules (docs/rules.md), end to end.

Every test drives a real TracerProvider and a real LDClient and asserts on the
JSON events that arrive at the loopback sink.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid

import pytest
from conftest import CHAT, JUDGE
from genai import by_key, chat, tool, values
from ldai import LDAIClient
from opentelemetry import trace

from ldai_otel import ai_run
from ldai_otel.testing import flush_events

EXPECTED_DATA = {
    "configKey": CHAT,
    "variationKey": "v-chat",
    "version": 3,
    "modelName": "gpt-test",
    "providerName": "openai",
}


def test_one_chat_call_emits_duration_tokens_and_success(provider, tracer, chat_config, user, collect, exporter):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        chat(tracer, 12, 8)

    events = collect()

    trace_id = next(s for s in exporter.get_finished_spans() if s.name == "ai_run " + CHAT).context.trace_id
    assert run.run_id == str(uuid.UUID(int=trace_id))
    assert sorted(e["key"] for e in events) == sorted(
        [
            "$ld:ai:duration:total",
            "$ld:ai:tokens:total",
            "$ld:ai:tokens:input",
            "$ld:ai:tokens:output",
            "$ld:ai:generation:success",
        ]
    )
    got = values(events)
    assert got["$ld:ai:tokens:input"] == 12
    assert got["$ld:ai:tokens:output"] == 8
    assert got["$ld:ai:tokens:total"] == 20
    assert got["$ld:ai:generation:success"] == 1
    assert isinstance(got["$ld:ai:duration:total"], int) and got["$ld:ai:duration:total"] >= 0
    for event in events:
        assert event["data"] == {"runId": run.run_id, **EXPECTED_DATA}
        assert event["context"] == {"kind": "user", "key": "user-42"}


def _stamped_with(span, run_id: str) -> bool:
    stamp = {k: v for k, v in span.attributes.items() if k.startswith("ld.ai_config.") and "_name" not in k}
    if not stamp:
        return False
    assert stamp == {
        "ld.ai_config.key": CHAT,
        "ld.ai_config.variation_key": "v-chat",
        "ld.ai_config.version": 3,
        "ld.ai_config.run_id": run_id,
        "ld.ai_config.emitter": "ldai-otel",  # the processor's: serve does not count the run again
        # How the run was entered: on the run's local root only (readers of ended spans rebuild the role).
        **({"ld.ai_config.entry": "ai_run"} if span.name == "ai_run " + CHAT else {}),
    }
    return True


@pytest.mark.parametrize("stamp_all_spans", [False, True])
def test_run_root_and_genai_spans_are_stamped_others_on_request(
    make_provider, chat_config, user, ld_client, sink, exporter, stamp_all_spans
):
    provider, processor = make_provider(stamp_all_spans=stamp_all_spans)
    tracer = provider.get_tracer("tests")
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        with tracer.start_as_current_span("plain work"):
            chat(tracer, 3, 4)  # a GenAI span under a plain one
        with tool(tracer, "search"):
            pass
        with tracer.start_as_current_span("SELECT", attributes={"db.system": "postgresql"}):
            pass
    with tracer.start_as_current_span("outside"):
        pass
    assert sum(e["key"] == "$ld:ai:tokens:total" for e in flush_events(ld_client, sink, processor)) == 1
    stamped = {s.name for s in exporter.get_finished_spans() if _stamped_with(s, run.run_id)}
    genai = {"ai_run " + CHAT, "chat gpt-test", "execute_tool search"}
    assert stamped == (genai | {"plain work", "SELECT"} if stamp_all_spans else genai)


def test_spans_outside_a_run_are_untouched_and_emit_nothing(provider, tracer, chat_config, user, collect, exporter):
    with tracer.start_as_current_span("request"):
        chat(tracer)
    assert collect() == []
    assert all("ld.ai_config.key" not in s.attributes for s in exporter.get_finished_spans())


def test_resumption_token_is_launchdarkly_format_with_the_run_id(provider, chat_config, user, ld_client):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        pass
    payload = json.loads(base64.urlsafe_b64decode(run.resumption_token + "=="))
    assert payload == {"runId": run.run_id, "configKey": CHAT, "variationKey": "v-chat", "version": 3}
    tracker = LDAIClient(ld_client).create_tracker(run.resumption_token, user).value
    assert tracker.resumption_token  # LaunchDarkly's own parser accepted it
    assert json.loads(base64.urlsafe_b64decode(tracker.resumption_token + "=="))["runId"] == run.run_id


def test_tool_loop_is_one_run_with_summed_tokens_and_one_tool_call(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        chat(tracer, 100, 20)
        with tool(tracer, "get_weather"):
            pass
        chat(tracer, 150, 30)

    events = collect()
    got = values(events)
    assert got["$ld:ai:tokens:input"] == 250
    assert got["$ld:ai:tokens:output"] == 50
    assert got["$ld:ai:tokens:total"] == 300
    assert got["$ld:ai:tool_call"] == ["get_weather"]
    assert got["$ld:ai:generation:success"] == 1
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    tool_event = by_key(events)["$ld:ai:tool_call"][0]
    assert tool_event["data"] == {"runId": run.run_id, "toolKey": "get_weather", **EXPECTED_DATA}


def test_exception_out_of_the_scope_is_an_error_and_still_propagates(provider, tracer, chat_config, user, collect):
    with pytest.raises(RuntimeError, match="app failed"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 3, 4)
            raise RuntimeError("app failed")

    got = values(collect())
    assert got["$ld:ai:generation:error"] == 1
    assert "$ld:ai:generation:success" not in got
    assert "$ld:ai:duration:total" in got
    assert got["$ld:ai:tokens:total"] == 7


def test_failed_model_call_the_app_caught_is_an_error(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, None, None, error=True)  # the app catches this and returns a fallback

    got = values(collect())
    assert got["$ld:ai:generation:error"] == 1
    assert "$ld:ai:generation:success" not in got
    assert "$ld:ai:tokens:total" not in got


def test_failure_retried_by_a_later_successful_call_is_success(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, None, None, error=True)
        chat(tracer, 9, 1)

    got = values(collect())
    assert got["$ld:ai:generation:success"] == 1
    assert "$ld:ai:generation:error" not in got
    assert got["$ld:ai:tokens:total"] == 10


def test_stream_consumed_after_the_scope_exits_still_counts(
    provider, tracer, chat_config, user, collect, sink, ld_client, exporter
):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        stream_span = chat(tracer, None, None, end=False)
    # The scope is closed but the stream is not consumed yet: nothing emitted.
    assert flush_events(ld_client, sink) == []

    stream_span.set_attribute("gen_ai.usage.input_tokens", 40)
    stream_span.set_attribute("gen_ai.usage.output_tokens", 60)
    stream_span.set_attribute("gen_ai.response.time_to_first_chunk", 0.25)
    stream_span.end()

    events = collect()
    got = values(events)
    assert got["$ld:ai:tokens:total"] == 100
    assert got["$ld:ai:tokens:ttf"] == 250
    # The run lasts until the stream is consumed: the scope's span and the
    # stream's span, joined.
    root = next(s for s in exporter.get_finished_spans() if s.name == "ai_run " + CHAT)
    assert got["$ld:ai:duration:total"] == (stream_span.end_time - root.start_time) // 1_000_000
    assert got["$ld:ai:generation:success"] == 1
    assert {e["data"]["runId"] for e in events} == {run.run_id}


def test_time_to_first_token_is_the_first_streaming_call(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 1, 1)
        chat(tracer, 1, 1, ttft_s=0.125)
        chat(tracer, 1, 1, ttft_s=0.5)
    assert values(collect())["$ld:ai:tokens:ttf"] == 125


def test_two_configs_in_one_trace_are_two_runs_with_their_own_metrics(
    provider, tracer, chat_config, judge_config, user, collect
):
    with ai_run(chat_config, user, tracer_provider=provider) as outer:
        chat(tracer, 10, 10)
        with ai_run(judge_config, user, tracer_provider=provider) as inner:
            chat(tracer, 1, 2, model="judge-model")

    events = collect()
    assert outer.run_id == inner.run_id  # same trace, so same runId
    chat_events = [e for e in events if e["data"]["configKey"] == CHAT]
    judge_events = [e for e in events if e["data"]["configKey"] == JUDGE]
    assert values(chat_events)["$ld:ai:tokens:total"] == 20
    assert values(judge_events)["$ld:ai:tokens:total"] == 3
    assert values(chat_events)["$ld:ai:generation:success"] == 1
    assert values(judge_events)["$ld:ai:generation:success"] == 1
    assert {e["data"]["variationKey"] for e in judge_events} == {"v-judge"}
    assert {e["data"]["version"] for e in judge_events} == {7}


def test_loop_with_new_trace_gives_one_run_per_iteration(provider, tracer, chat_config, user, collect, exporter):
    run_ids = []
    with tracer.start_as_current_span("batch job") as job:
        for i in range(3):
            with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as run:
                chat(tracer, i + 1, 1)
            run_ids.append(run.run_id)

    events = collect()
    assert len(set(run_ids)) == 3
    for i, run_id in enumerate(run_ids):
        got = values([e for e in events if e["data"]["runId"] == run_id])
        assert got["$ld:ai:tokens:input"] == i + 1
        assert got["$ld:ai:generation:success"] == 1
    run_spans = [s for s in exporter.get_finished_spans() if s.name == "ai_run " + CHAT]
    assert len(run_spans) == 3
    for span in run_spans:
        assert span.parent is None
        assert [link.context.span_id for link in span.links] == [job.get_span_context().span_id]
        assert str(uuid.UUID(int=span.context.trace_id)) in run_ids


def test_nested_scopes_of_one_config_are_one_run(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider) as outer:
        chat(tracer, 1, 1)
        with ai_run(chat_config, user, tracer_provider=provider) as inner:
            chat(tracer, 2, 2)

    events = collect()
    assert outer.run_id == inner.run_id
    got = values(events)  # asserts exactly one event per metric key
    assert got["$ld:ai:tokens:total"] == 6
    assert got["$ld:ai:generation:success"] == 1


def test_repeated_scopes_of_one_config_in_one_trace_share_the_run_without_double_counting(
    provider, tracer, chat_config, user, collect, caplog
):
    with tracer.start_as_current_span("request"):
        with ai_run(chat_config, user, tracer_provider=provider) as first:
            chat(tracer, 1, 1)
        with ai_run(chat_config, user, tracer_provider=provider) as second:
            chat(tracer, 5, 5)

    events = collect()
    assert first.run_id == second.run_id
    grouped = by_key(events)
    # One duration and one outcome for the run; every token counted once.
    assert len(grouped["$ld:ai:duration:total"]) == 1
    assert len(grouped["$ld:ai:generation:success"]) == 1
    assert sorted(e["metricValue"] for e in grouped["$ld:ai:tokens:total"]) == [2, 10]
    assert "second ai_run scope of config chat-config" in caplog.text


def test_child_of_a_run_span_joins_without_the_context_attached(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        server = tracer.start_span("server")
    # A hand-written server passes only its server span as parent, in a
    # context that does not carry the run (and the scope has already exited).
    child = chat(tracer, 7, 3, context=trace.set_span_in_context(server, None))
    server.end()

    assert child.attributes["ld.ai_config.run_id"] == run.run_id
    got = values(collect())
    assert got["$ld:ai:tokens:total"] == 10
    assert got["$ld:ai:generation:success"] == 1


def test_async_with_and_concurrent_tasks_keep_runs_apart(provider, tracer, chat_config, user, collect):
    async def one(i: int) -> str:
        async with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as run:
            await asyncio.sleep(0)
            chat(tracer, i, 1000 + i)
            await asyncio.sleep(0)
            chat(tracer, i, 1000 + i)
        return run.run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(1, 51)))

    run_ids = asyncio.run(main())
    events = collect()
    assert len(set(run_ids)) == 50
    for i, run_id in enumerate(run_ids, start=1):
        got = values([e for e in events if e["data"]["runId"] == run_id])
        assert got["$ld:ai:tokens:input"] == 2 * i
        assert got["$ld:ai:tokens:output"] == 2 * (1000 + i)
        assert got["$ld:ai:generation:success"] == 1
    assert len(events) == 50 * 5


def test_threads_keep_runs_apart_with_exact_numbers(provider, tracer, chat_config, user, collect):
    run_ids: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        barrier.wait()
        for j in range(25):
            n = t * 100 + j + 1
            with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as run:
                chat(tracer, n, 1)
                with tool(tracer, "t%d" % t):
                    pass
            run_ids[n] = run.run_id

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    events = collect()
    assert len(run_ids) == 200
    assert len(events) == 200 * 6
    for n, run_id in run_ids.items():
        got = values([e for e in events if e["data"]["runId"] == run_id])
        assert got["$ld:ai:tokens:input"] == n
        assert got["$ld:ai:tool_call"] == ["t%d" % (n // 100)]


def test_no_processor_means_nothing_sent_and_the_scope_still_works(chat_config, user, ld_client, sink):
    from opentelemetry.sdk.trace import TracerProvider

    bare = TracerProvider()
    with ai_run(chat_config, user, tracer_provider=bare) as run:
        assert run.run_id
    assert flush_events(ld_client, sink) == []
    bare.shutdown()


def test_agent_and_judge_configs_bind_runs_too(provider, tracer, ai_client, user, collect):
    from ldai.models import AIAgentConfigDefault, AIJudgeConfigDefault

    agent = ai_client.agent_config(CHAT, user, AIAgentConfigDefault(enabled=False))
    judge = ai_client.judge_config(JUDGE, user, AIJudgeConfigDefault(enabled=False))
    with ai_run(agent, user, tracer_provider=provider, new_trace=True) as agent_run:
        chat(tracer, 3, 3)
    with ai_run(judge, user, tracer_provider=provider, new_trace=True) as judge_run:
        chat(tracer, 4, 4)

    events = collect()
    agent_events = [e for e in events if e["data"]["runId"] == agent_run.run_id]
    judge_events = [e for e in events if e["data"]["runId"] == judge_run.run_id]
    assert values(agent_events)["$ld:ai:tokens:total"] == 6
    assert values(judge_events)["$ld:ai:tokens:total"] == 8
    assert {(e["data"]["configKey"], e["data"]["variationKey"], e["data"]["version"]) for e in agent_events} == {
        (CHAT, "v-chat", 3)
    }
    assert {(e["data"]["configKey"], e["data"]["modelName"], e["data"]["providerName"]) for e in judge_events} == {
        (JUDGE, "judge-model", "anthropic")
    }


def test_alternating_configs_each_keep_their_variation_and_version(
    provider, tracer, chat_config, judge_config, user, collect
):
    # ai_run reads variation and version from each new tracker's token and
    # keeps the decoded facts by the token's config part: alternating configs
    # must never borrow each other's.
    run_ids = {}
    for n in range(3):
        for config in (chat_config, judge_config):
            with ai_run(config, user, tracer_provider=provider, new_trace=True) as run:
                chat(tracer, 10 + n, 1)
            run_ids[run.run_id] = config.key
    events = [e for e in collect() if e["key"] == "$ld:ai:tokens:input"]
    assert len(events) == 6
    for event in events:
        data = event["data"]
        expected = ("v-chat", 3) if run_ids[data["runId"]] == CHAT else ("v-judge", 7)
        assert (data["configKey"], data["variationKey"], data["version"]) == (run_ids[data["runId"]],) + expected


def test_token_facts_decode_any_layout_and_cache_only_the_launchdarkly_layout():
    from ldai_otel.model.config_facts import _token_facts, _token_facts_cache, resumption_token_for
    from ldai_otel.model.run import RunInfo

    # ldai_otel's own tokens are compact JSON: decoded, never cached by their tail.
    ours = resumption_token_for(str(uuid.uuid4()), RunInfo("cfg", "v1", 5, None))
    before = dict(_token_facts_cache)
    assert _token_facts(ours)["variationKey"] == "v1"
    assert _token_facts_cache == before

    # LaunchDarkly's layout ('{"runId": "<uuid>", ...') is cached by what follows the runId.
    def ld_token(run_id: str, variation: str) -> str:
        raw = json.dumps({"runId": run_id, "configKey": "cfg", "variationKey": variation, "version": 5})
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    first, second = ld_token(str(uuid.uuid4()), "v-a"), ld_token(str(uuid.uuid4()), "v-b")
    assert _token_facts(first)["variationKey"] == "v-a"
    assert _token_facts(second)["variationKey"] == "v-b"
    assert _token_facts(ld_token(str(uuid.uuid4()), "v-a"))["variationKey"] == "v-a"
    assert first[64:] in _token_facts_cache and second[64:] in _token_facts_cache
