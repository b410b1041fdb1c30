"""One source for each shared fact: the parent-chain walk, the fallback context, the events-only client,
the extractor loader (issue 20, "single sources"; docs/design.md, "Layout")."""

from __future__ import annotations

import contextlib

import pytest
from ldclient import Context

from ldai_otel import ai_run
from ldai_otel.dialects.extractors import load_extractor
from ldai_otel.dialects.reader import genai_span
from ldai_otel.live.events_client import events_client, events_config
from ldai_otel.model.contexts import UNKNOWN_SERVICE, ServiceContexts
from ldai_otel.model.parents import MAX_DEPTH, ancestors, chain
from ldai_otel.testing import flush_events


def test_the_walk_follows_the_chain_and_stops_at_the_root_or_an_unknown_span():
    parents = {3: 2, 2: 1, 1: 0}
    assert list(chain(3, parents)) == [3, 2, 1]
    assert list(ancestors(3, parents)) == [2, 1]
    assert list(chain(7, {7: 9})) == [7, 9]  # 9 is not known: the walk ends there
    assert list(chain(0, parents)) == []


def test_a_cyclic_parent_map_stops_at_the_one_bound():
    assert len(list(chain(1, {1: 2, 2: 1}))) == MAX_DEPTH


def agent(tracer, name: str, input_tokens: int, output_tokens: int):
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": name,
        "gen_ai.aggregated_usage.input_tokens": input_tokens,
        "gen_ai.aggregated_usage.output_tokens": output_tokens,
    }
    return tracer.start_as_current_span("invoke_agent " + name, attributes=attributes)


def test_an_agent_nested_deeper_than_the_old_bound_is_not_counted_twice(
    make_provider, chat_config, user, ld_client, sink
):
    # Agent spans repeat their children's usage: only the outermost counts. With 100 plain
    # spans between the two agents, a walk bounded at 64 links took the inner one for an outer one.
    provider, processor = make_provider()
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        with agent(tracer, "outer", 30, 10), contextlib.ExitStack() as steps:
            for i in range(100):
                steps.enter_context(tracer.start_as_current_span("step %d" % i))
            with agent(tracer, "inner", 30, 10):
                pass
    events = flush_events(ld_client, sink, processor)
    tokens = {e["key"]: e["metricValue"] for e in events if e["key"].startswith("$ld:ai:tokens:")}
    assert tokens == {"$ld:ai:tokens:input": 30, "$ld:ai:tokens:output": 10, "$ld:ai:tokens:total": 40}


def test_one_service_context_per_service_name_bounded():
    contexts = ServiceContexts()
    first = contexts.get("checkout")
    assert first is contexts.get("checkout")
    assert (first.kind, first.key, first.anonymous) == ("service", "checkout", True)
    assert contexts.get(None).key == UNKNOWN_SERVICE and contexts.get("") is contexts.get(None)
    for i in range(ServiceContexts.MAX):
        contexts.get("service-%d" % i)
    past = contexts.get("one-too-many")
    assert past.key == "one-too-many" and past is not contexts.get("one-too-many")  # built, not kept


def test_the_events_only_client_sends_events_and_connects_for_no_flags(sink):
    config = events_config("sdk-key", sink.uri, flush_interval=3600, events_max_pending=7)
    assert config.use_ldd and config.send_events and config.diagnostic_opt_out
    assert (config.events_base_uri, config.flush_interval, config.events_max_pending) == (sink.uri, 3600, 7)
    assert not events_config("sdk-key", diagnostics=True).diagnostic_opt_out
    client = events_client(config)
    try:
        client.track("probe", Context.create("user-1"))
        client.flush()
        assert sink.wait_for_event(lambda event: event.get("key") == "probe")
    finally:
        client.close()


def test_extractors_are_loaded_by_one_function_for_both_commands():
    assert load_extractor("ldai_otel.dialects.reader:genai_span") is genai_span
    for bad, why in (("nope", "wants module:function"), ("no_such_module_x:f", "cannot load extractor")):
        with pytest.raises(ValueError, match=why):
            load_extractor(bad)
