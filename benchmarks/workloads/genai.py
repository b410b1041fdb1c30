"""The GenAI-heavy workload: per request, the config evaluated, two chat spans with usage, a tool span and
three plain spans.

"base" (no metrics), "hand" (hand-written ``ldai`` tracking), "ldai" (``ai_run`` +
``LDAISpanProcessor``), the contract's floor ("floor", "floor+events"), the run model's floor
("runfloor": the floor plus span membership), ``ai_run`` with no
processor ("scope") and one span with ``ai_run``'s attributes ("runspan"). Measured on the
app's thread (variants alternating every 20 requests) and in total CPU (each variant alone,
until the sink has its events).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable

from bench_common import (
    AI_RUN_KEYS,
    CHAT_START,
    CONFIG_KEY,
    DEFAULT_CONFIG,
    GENAI_CPU_TARGET,
    GENAI_THREAD_TARGET,
    TOOL_START,
    USAGE,
    AddedRatio,
    SinkProcess,
    Spread,
    deliver,
    finely_interleaved,
    interleaved,
    per_rep,
)
from ldai import LDAIClient
from ldai.tracker import TokenUsage
from ldclient import Context, LDClient
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from ldai_otel import LDAISpanProcessor, ai_run, baggage


def genai_spans(
    tracer: trace.Tracer, on_chat: Callable[[dict], None] | None = None, on_tool: Callable[[str], None] | None = None
) -> None:
    """Two chat spans with usage, one tool span, three plain spans."""
    with tracer.start_as_current_span("load history", attributes={"db.system.name": "redis"}):
        pass
    for n, usage in enumerate(USAGE):
        with tracer.start_as_current_span("chat gpt-test", kind=SpanKind.CLIENT, attributes=CHAT_START) as span:
            span.set_attributes(usage)  # usage arrives with the response
            if on_chat is not None:
                on_chat(usage)
        if n == 0:
            with tracer.start_as_current_span("execute_tool search", attributes=TOOL_START):
                with tracer.start_as_current_span(
                    "GET", kind=SpanKind.CLIENT, attributes={"url.full": "http://search.internal/q"}
                ):
                    pass
            if on_tool is not None:
                on_tool("search")
    with tracer.start_as_current_span("save answer", attributes={"db.system.name": "redis"}):
        pass


class StampingProcessor(SpanProcessor):
    """Stamps the four ``ld.ai_config.*`` attributes on GenAI spans at start, and does nothing else.

    The run contract wants the run's GenAI spans to carry them from ``on_start``
    (the run's own span is started with them); this is the least any
    implementation pays for that on the app's thread.
    """

    ATTRIBUTES = {
        "ld.ai_config.key": CONFIG_KEY,
        "ld.ai_config.variation_key": "v-chat",
        "ld.ai_config.version": 3,
        "ld.ai_config.run_id": "6b1f3c2a-5d0e-4c7a-9f41-0a2b3c4d5e6f",
    }

    def on_start(self, span, parent_context=None) -> None:
        if "gen_ai.operation.name" in span.attributes:
            span.set_attributes(self.ATTRIBUTES)


class RunModelFloorProcessor(StampingProcessor):
    """:class:`StampingProcessor` plus the span membership the run model needs, and nothing else.

    A run's segment closes when its own span and every span of the run have ended, so any
    processor that follows the run model records, as each span starts, whether it belongs to a
    run (its parent span does, or it is the run's own span), and takes it out as it ends. Here:
    one dict lookup to join, the membership recorded and removed under one lock, GenAI spans
    kept at end for reading off the app's thread, a run whose last span ended handed on (and
    dropped: no LaunchDarkly events are built). The least the run model costs a processor on
    the app's thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[int, list] = {}  # span id -> its run: [open span ids, parents, kept spans]
        self.closed_runs = 0

    def on_start(self, span, parent_context=None) -> None:
        parent = span.parent
        run = self._members.get(parent.span_id) if parent is not None else None
        attributes = span.attributes
        if run is None:
            if "ld.ai_config.run_id" not in attributes:
                return  # outside any run
            run = [set(), {}, []]
        span_id = span.context.span_id
        with self._lock:
            run[0].add(span_id)
            run[1][span_id] = parent.span_id if parent is not None else 0
            self._members[span_id] = run
        if "gen_ai.operation.name" in attributes:
            span.set_attributes(self.ATTRIBUTES)

    def on_end(self, span) -> None:
        members = self._members
        span_id = span.context.span_id
        if span_id not in members:
            return
        genai = "gen_ai.operation.name" in span.attributes
        with self._lock:
            run = members.pop(span_id)
            run[0].discard(span_id)
            if genai:
                run[2].append(span)
            if not run[0]:
                self.closed_runs += 1


RUN_SPAN_ATTRIBUTES = {
    **StampingProcessor.ATTRIBUTES,
    "ld.ai_config.model_name": "gpt-test",
    "ld.ai_config.provider_name": "openai",
}
"""What ``ai_run`` writes on its own span: the run identity, the config's model and provider."""


class GenAIWorkload:
    """The GenAI-heavy request in its variants, sharing one LD client."""

    def __init__(self, ld_client: LDClient, ai_client: LDAIClient, bare: TracerProvider, ldai: TracerProvider):
        self.ld_client = ld_client
        self.ai_client = ai_client
        self.bare = bare
        self.bare_tracer = bare.get_tracer("bench")
        self.ldai = ldai
        self.ldai_tracer = ldai.get_tracer("bench")
        self.stamping = TracerProvider()
        self.stamping.add_span_processor(StampingProcessor())
        self.stamping_tracer = self.stamping.get_tracer("bench")
        self.run_model_floor = RunModelFloorProcessor()
        self.membership = TracerProvider()
        self.membership.add_span_processor(self.run_model_floor)
        self.membership_tracer = self.membership.get_tracer("bench")
        self.users = [Context.create("user-%d" % i) for i in range(64)]
        self.processor: LDAISpanProcessor | None = None
        # The `ldai-otel serve` deployment: ai_run and the app's spans on a
        # provider with no LDAISpanProcessor at all.
        self.plain = TracerProvider()
        self.plain_tracer = self.plain.get_tracer("bench")

    @classmethod
    def create(cls, ld_client: LDClient) -> GenAIWorkload:
        """The workload on a bare provider and on one with LDAISpanProcessor."""
        ldai = TracerProvider()
        processor = LDAISpanProcessor(ld_client)
        ldai.add_span_processor(processor)
        workload = cls(ld_client, LDAIClient(ld_client), TracerProvider(), ldai)
        workload.processor = processor
        workload.codec = baggage.active_codec()
        return workload

    def shutdown(self) -> None:
        for provider in (self.bare, self.ldai, self.stamping, self.plain, self.membership):
            provider.shutdown()

    def base(self, i: int) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.bare_tracer.start_as_current_span("handle request"):
            genai_spans(self.bare_tracer)
        del config

    def hand(self, i: int) -> None:
        self._hand(i, run_span=False)

    def _hand(self, i: int, run_span: bool) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        tracker = config.create_tracker()
        totals = [0, 0]

        def on_chat(usage: dict) -> None:
            totals[0] += usage["gen_ai.usage.input_tokens"]
            totals[1] += usage["gen_ai.usage.output_tokens"]

        start = time.perf_counter_ns()
        with self.bare_tracer.start_as_current_span("handle request"):
            if run_span:
                with self.stamping_tracer.start_as_current_span("ai_run " + CONFIG_KEY):
                    genai_spans(self.stamping_tracer, on_chat, tracker.track_tool_call)
            else:
                genai_spans(self.bare_tracer, on_chat, tracker.track_tool_call)
        tracker.track_duration((time.perf_counter_ns() - start) // 1_000_000)
        tracker.track_tokens(TokenUsage(total=totals[0] + totals[1], input=totals[0], output=totals[1]))
        tracker.track_success()

    def floor(self, i: int) -> None:
        """The least the run contract costs on the app's thread.

        Read the config's variation and version (``create_tracker()``, the
        only public way), start the run's span, stamp the four
        ``ld.ai_config.*`` attributes on every run span at start. Building
        LaunchDarkly events is left out: it may happen on another thread.
        """
        self._contract_floor(i, self.stamping_tracer)

    def run_floor(self, i: int) -> None:
        """:meth:`floor` with the span membership the run model needs (:class:`RunModelFloorProcessor`)."""
        self._contract_floor(i, self.membership_tracer)

    def _contract_floor(self, i: int, run_tracer: trace.Tracer) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        config.create_tracker()
        with self.bare_tracer.start_as_current_span("handle request"):
            with run_tracer.start_as_current_span("ai_run " + CONFIG_KEY, attributes=RUN_SPAN_ATTRIBUTES):
                genai_spans(run_tracer)

    def scope_alone(self, i: int) -> None:
        """``ai_run`` with no processor anywhere (the ``ldai-otel serve`` deployment).

        No processor means no codec to sign baggage with; the GenAI-heavy part
        has one (ours), so it is set aside for this variant's request.
        """
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        baggage.set_active_codec(None)
        try:
            with self.plain_tracer.start_as_current_span("handle request"):
                with ai_run(config, user, tracer_provider=self.plain):
                    genai_spans(self.plain_tracer)
        finally:
            baggage.set_active_codec(self.codec)

    def run_span(self, i: int) -> None:
        """The least ``ai_run`` alone can cost: one more span, started with what ai_run writes on it."""
        user = self.users[i % 64]
        self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.plain_tracer.start_as_current_span("handle request"):
            with self.plain_tracer.start_as_current_span("ai_run " + CONFIG_KEY, attributes=RUN_SPAN_ATTRIBUTES):
                genai_spans(self.plain_tracer)

    def floor_with_events(self, i: int) -> None:
        """:meth:`floor` plus the same LaunchDarkly events as hand-written tracking:
        the least the contract costs in total CPU."""
        self._hand(i, run_span=True)

    def ours(self, i: int) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.ldai_tracer.start_as_current_span("handle request"):
            with ai_run(config, user, tracer_provider=self.ldai):
                genai_spans(self.ldai_tracer)


def part_genai(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> dict:
    workload = GenAIWorkload.create(ld_client)
    processor = workload.processor
    before = sink.counts()
    # App-thread CPU: the variants alternate every 20 requests, so all of them
    # see the same machine load; background work (LaunchDarkly's threads, our
    # emitter) runs on other threads and is not on this clock. Wall time is
    # not reported here: one variant's background work runs during the
    # others' blocks.
    app = finely_interleaved(
        {
            "base": workload.base,
            "hand": workload.hand,
            "ldai": workload.ours,
            "floor": workload.floor,
            "runfloor": workload.run_floor,
            "scope": workload.scope_alone,
            "runspan": workload.run_span,
        },
        args.genai_requests,
        args.reps,
        block=20,
    )
    deliver(ld_client, sink, processor)
    # Total CPU: each variant runs alone until its events are at the sink, so
    # its background work runs inside its own measurement, on the process
    # CPU clock.
    settle_plain = lambda: deliver(ld_client, sink)  # noqa: E731
    settle_ldai = lambda: deliver(ld_client, sink, processor)  # noqa: E731
    total = interleaved(
        {
            "base": (workload.base, settle_plain),
            "hand": (workload.hand, settle_plain),
            "ldai": (workload.ours, settle_ldai),
            "floor+events": (workload.floor_with_events, settle_plain),
        },
        args.genai_requests,
        args.reps,
    )
    after = sink.counts()
    delivered = {key: after.get(key, 0) - before.get(key, 0) for key in after}

    def added(samples: dict, name: str, attr: str) -> Spread:
        return per_rep(samples, lambda v, b: v - b, name, "base", attr=attr)

    result = {
        "base_thread_us": per_rep(app, lambda b: b, "base", attr="thread_us"),
        "hand_added_thread_us": added(app, "hand", "thread_us"),
        "ldai_added_thread_us": added(app, "ldai", "thread_us"),
        "floor_added_thread_us": added(app, "floor", "thread_us"),
        "runfloor_added_thread_us": added(app, "runfloor", "thread_us"),
        "scope_added_thread_us": added(app, "scope", "thread_us"),
        "runspan_added_thread_us": added(app, "runspan", "thread_us"),
        "scope_ratio": AddedRatio(app, "scope", "hand", "thread_us"),
        "runspan_ratio": AddedRatio(app, "runspan", "hand", "thread_us"),
        "thread_ratio": AddedRatio(app, "ldai", "hand", "thread_us"),
        "floor_thread_ratio": AddedRatio(app, "floor", "hand", "thread_us"),
        "ldai_vs_floor_thread": AddedRatio(app, "ldai", "floor", "thread_us"),
        "runfloor_thread_ratio": AddedRatio(app, "runfloor", "hand", "thread_us"),
        "ldai_vs_runfloor_thread": AddedRatio(app, "ldai", "runfloor", "thread_us"),
        "runfloor_closed_runs": workload.run_model_floor.closed_runs,
        "base_cpu_us": per_rep(total, lambda b: b, "base", attr="cpu_us"),
        "hand_added_cpu_us": added(total, "hand", "cpu_us"),
        "ldai_added_cpu_us": added(total, "ldai", "cpu_us"),
        "floor_events_added_cpu_us": added(total, "floor+events", "cpu_us"),
        "cpu_ratio": AddedRatio(total, "ldai", "hand", "cpu_us"),
        "floor_events_cpu_ratio": AddedRatio(total, "floor+events", "hand", "cpu_us"),
        "ldai_vs_floor_events_cpu": AddedRatio(total, "ldai", "floor+events", "cpu_us"),
        "delivered": delivered,
        # Requests per variant and part, warm-up included; "hand" and "ldai"
        # send in both parts, "floor+events" in the total-CPU part only.
        "requests": args.genai_requests * (args.reps + 1),
    }
    processor.shutdown()
    workload.shutdown()
    return result


def report_genai(genai: dict, args: argparse.Namespace) -> None:
    """Prints the GenAI-heavy part's figures."""
    r = genai
    print()
    print("GenAI-heavy workload: %d requests per rep (ai_run + 2 chat + 1 tool + 3 plain spans)" % args.genai_requests)
    print("  [app thread: thread CPU of the request loop; the variants alternate every 20 requests]")
    print("  base request                     %s us" % r["base_thread_us"].format("%.1f"))
    print("  hand-written tracking, added     %s us" % r["hand_added_thread_us"].format("%.1f"))
    print("  ai_run + LDAISpanProcessor, added %s us" % r["ldai_added_thread_us"].format("%.1f"))
    print("  contract floor, added            %s us" % r["floor_added_thread_us"].format("%.1f"))
    print("  run-model floor, added           %s us" % r["runfloor_added_thread_us"].format("%.1f"))
    print("  ai_run alone (no processor), added %s us" % r["scope_added_thread_us"].format("%.1f"))
    print("  one span with ai_run's attributes %s us" % r["runspan_added_thread_us"].format("%.1f"))
    print("  ldai / hand                      %s   target <= %g" % (r["thread_ratio"].format(), GENAI_THREAD_TARGET))
    print(
        "  floor / hand                     %s   (the least the run contract costs)" % r["floor_thread_ratio"].format()
    )
    print("  ldai / floor                     %s" % r["ldai_vs_floor_thread"].format())
    print("  run-model floor / hand           %s   (the floor + span membership)" % r["runfloor_thread_ratio"].format())
    print("  ldai / run-model floor           %s" % r["ldai_vs_runfloor_thread"].format())
    print("  [total CPU: process CPU until the events are at the sink; each variant alone]")
    print("  base request                     %s us" % r["base_cpu_us"].format("%.1f"))
    print("  hand-written tracking, added     %s us" % r["hand_added_cpu_us"].format("%.1f"))
    print("  ai_run + LDAISpanProcessor, added %s us" % r["ldai_added_cpu_us"].format("%.1f"))
    print("  floor + hand's events, added     %s us" % r["floor_events_added_cpu_us"].format("%.1f"))
    print("  ldai / hand                      %s   target <= %g" % (r["cpu_ratio"].format(), GENAI_CPU_TARGET))
    print(
        "  floor+events / hand              %s   (the least the run contract costs)"
        % r["floor_events_cpu_ratio"].format()
    )
    print("  ldai / floor+events              %s" % r["ldai_vs_floor_events_cpu"].format())
    print("  [contract floor: create_tracker() for the variation, the run's span started with its")
    print("   attributes, the four ld.ai_config.* attributes stamped on GenAI spans at start;")
    print("   run-model floor: the same, plus each run span's membership recorded at start and")
    print("   removed at end under a lock, GenAI spans kept, the run handed on when its last span")
    print(
        "   ended (%d runs closed); + events: the same LaunchDarkly events as hand-written tracking]"
        % r["runfloor_closed_runs"]
    )
    expected = 5 * r["requests"]  # one event per key per request: see part_genai
    complete = all(r["delivered"].get(key, 0) == expected for key in AI_RUN_KEYS)
    print(
        "  events at the sink              %s (%s: %d per key expected)"
        % (
            json.dumps({k: r["delivered"].get(k, 0) for k in AI_RUN_KEYS}),
            "complete" if complete else "MISMATCH",
            expected,
        )
    )
