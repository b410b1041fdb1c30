"""``LDAISpanProcessor``: OpenTelemetry GenAI spans in, LaunchDarkly AI Config metrics out."""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.baggage import TOKEN_BAGGAGE_KEY, clear_active_codec, set_active_codec
from ldai_otel.dialects.reader import MARKER_KEYS, Dialects
from ldai_otel.evaluations.judges import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_MAX_PENDING,
    DEFAULT_TIMEOUT_S,
    EvaluationRunner,
    RunJudges,
)
from ldai_otel.evaluations.mapped_events import EvaluationEvents
from ldai_otel.live.downstream import BAGGAGE_CONTEXT_KEY as _BAGGAGE_CONTEXT_KEY
from ldai_otel.live.downstream import Downstream, make_codec
from ldai_otel.live.emitter import SegmentEmitter
from ldai_otel.live.exit_hooks import ExitHooks, deliver_held_runs
from ldai_otel.live.ld_managed import LD_MANAGED_KEY
from ldai_otel.live.ld_managed import install as install_ld_managed
from ldai_otel.live.run_table import RunTable
from ldai_otel.model.observation import Extractor
from ldai_otel.model.run import (
    CONTINUATION,
    IDENTITY_KEYS,
    ORIGIN,
    Binding,
    run_id_for_trace,
)
from ldai_otel.model.segment import Segment
from ldai_otel.rules.book import Summary
from ldai_otel.scope import SCOPE_CONTEXT_KEY, RunScope

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)  # every exception path is rate-limited


def _reset_table(weak_table: weakref.ReferenceType[RunTable]) -> None:
    table = weak_table()
    if table is not None:
        table.reset()


# Bound once: on_start runs for every span the app starts, and each lookup of
# a module attribute there is a measurable share of its cost.
_get_current = otel_context.get_current


class LDAISpanProcessor(SpanProcessor):
    """Maps GenAI spans to LaunchDarkly AI Config runs and emits their metrics.

    Add it next to the exporters the app already has::

        provider.add_span_processor(LDAISpanProcessor(ld_client))

    A span belongs to a run when its parent context carries one (set by
    :func:`~ldai_otel.ai_run`) or its parent span belongs to one. Run spans
    are stamped with ``ld.ai_config.*`` attributes at start (the run's local
    root and its GenAI spans, or every run span with ``stamp_all_spans``);
    at end, GenAI spans are normalized and aggregated per segment, and a
    closed segment is emitted through ``ldai.tracker.LDAIConfigTracker`` on a background thread.
    A span outside any run costs a context lookup and three checks (run key,
    run baggage, any run span open).

    No exception leaves a hook: the OpenTelemetry SDK does not catch them.

    Runs are delivered whatever order the process ends in: :meth:`force_flush`
    (a serverless handler's last call), :meth:`shutdown`, ``ld_client.close()``
    and a normal exit each return once the client has posted them.

    Args:
        ld_client: The ``ldclient.LDClient`` that sends the events. The
            processor never closes it; the app owns it. Its ``close`` (this
            instance's only) first hands the processor's runs over.
        max_open_runs: Most run segments open at once. Opening one more
            closes and emits the oldest (never drops it).
        max_segment_age_s: A segment open longer than this is closed and
            emitted, even with spans of it still open; those spans, when they
            end, form a new segment of the same runId.
        extractors: Extra extractors for in-house span dialects, tried before
            the built-in ones (see ``ldai_otel.model.observation.Extractor``).
        on_emitted: Called on the emitter thread with
            ``(run_id, config_key, role, summary)`` after each segment is
            emitted; for reports and tests. Errors it raises are logged.
        propagate: ``ai_run`` writes the run into W3C baggage so downstream
            services resume it (see :mod:`ldai_otel.baggage`).
        signing_key: HMAC key for baggage entries; by default derived from
            the LaunchDarkly SDK key, so services of one environment agree.
        trust_unsigned_tokens: Security: anyone who can reach the service can
            then attribute metrics to any run and AI Config: enable only behind a
            trusted boundary. Also resumes runs from plain (unsigned) LaunchDarkly
            resumption tokens, for services fed by another LaunchDarkly SDK.
        propagate_context: Security: the LaunchDarkly context's kind and key
            (often personal data) then leave the service in baggage, on every
            outbound call, model providers included (signed, not encrypted).
            ``ai_run`` puts them there so downstream events carry the same context.
        context_provider: ``fn(parent_context) -> ldclient.Context | None``,
            called when a span resumes a run from baggage, to choose the
            context downstream events are attributed to. Errors are logged.
        fallback_context: The context downstream events are attributed to
            when neither ``context_provider`` nor baggage gives one. By
            default one anonymous context of kind ``service`` keyed by the
            span resource's ``service.name``: never one context per run.
        stamp_all_spans: Stamp the ``ld.ai_config.*`` attributes on every
            span of a run. By default only the run's local root (the
            ``ai_run`` span, or the span that resumed the run) and its GenAI
            spans (marked as such by the attributes their instrumentation
            passes at start) are stamped; turn this on for backends where
            runs are queried by attribute on any span.
        delivery_timeout_s: Most seconds :meth:`shutdown`, the client's
            ``close()`` and the exit hook spend emitting what the processor
            holds and waiting for the client to post it (the client's own
            ``close()`` may then wait on, within its HTTP timeouts).
        run_judges: Run the judges attached to a run's AI Config on the
            run's input and output (docs/evaluations.md). Only runs whose
            config has judges are affected.
        judge_timeout_s: Longest one judge may take on one run.
        max_pending_evaluations: Most judged runs waiting or being judged;
            past it a run is not judged (counted in ``evaluation_stats``).
        max_concurrent_evaluations: Most judged runs evaluated at once.
        max_evaluation_chars: Most characters of the input or of the output
            handed to a judge; a longer side is not judged.
        evaluation_metrics: Evaluation name -> LaunchDarkly metric key: a
            ``gen_ai.evaluation.result`` span event on a run span with a
            mapped name becomes a judge-style event on the run.
    """

    def __init__(
        self,
        ld_client: Any,
        *,
        max_open_runs: int = 10_000,
        max_segment_age_s: float = 600.0,
        extractors: Sequence[Extractor] = (),
        on_emitted: Callable[[str, str, str, Summary], None] | None = None,
        propagate: bool = True,
        signing_key: str | bytes | None = None,
        trust_unsigned_tokens: bool = False,
        propagate_context: bool = False,
        context_provider: Callable[[Context | None], Any] | None = None,
        fallback_context: Any = None,
        stamp_all_spans: bool = False,
        delivery_timeout_s: float = 10.0,
        run_judges: bool = True,
        judge_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_pending_evaluations: int = DEFAULT_MAX_PENDING,
        max_concurrent_evaluations: int = DEFAULT_MAX_CONCURRENT,
        max_evaluation_chars: int = DEFAULT_MAX_CHARS,
        evaluation_metrics: Mapping[str, str] | None = None,
    ):
        if max_open_runs < 1:
            raise ValueError("max_open_runs must be at least 1")
        if max_segment_age_s <= 0:
            raise ValueError("max_segment_age_s must be positive")
        if delivery_timeout_s < 0:
            raise ValueError("delivery_timeout_s must not be negative")
        self._ld_client = ld_client
        self._delivery_timeout_s = delivery_timeout_s
        install_ld_managed()
        self._dialects = Dialects(extractors)
        self._table = RunTable(max_open_runs=max_open_runs, max_segment_age_s=max_segment_age_s)
        self._members = self._table.members  # lock-free membership reads on the hot paths
        user_callback = on_emitted

        def emitted(segment: Segment, summary: Summary) -> None:
            if user_callback is not None:
                binding = segment.binding
                user_callback(binding.run_id, binding.info.config_key, segment.role, summary)

        self._evaluations = EvaluationRunner(max_pending_evaluations, max_concurrent_evaluations)
        self._judges = RunJudges(
            ld_client,
            self._evaluations,
            timeout_s=judge_timeout_s,
            max_chars=max_evaluation_chars,
            enabled=run_judges,
        )
        self._evaluation_events = EvaluationEvents(ld_client, evaluation_metrics) if evaluation_metrics else None
        self._emitter = SegmentEmitter(
            ld_client,
            tick=self._expire,
            tick_interval_s=min(1.0, max_segment_age_s / 4),
            on_emitted=emitted,
            observe=self._dialects.observe,
            before_emit=self._before_emit,
        )
        if hasattr(os, "register_at_fork"):
            # A forked child must not emit the parent's runs a second time.
            # Weak: fork hooks cannot be unregistered and must not pin the table.
            weak_table = weakref.ref(self._table)
            os.register_at_fork(after_in_child=lambda: _reset_table(weak_table))
        self._codec = make_codec(ld_client, signing_key, trust_unsigned_tokens, propagate, propagate_context)
        self._downstream = Downstream(self._codec, context_provider, fallback_context)
        self._stamp_all = stamp_all_spans
        self._shut_down = False
        set_active_codec(self._codec)
        # Last: the hooks may run as soon as they exist.
        self._exit_hooks = ExitHooks(ld_client, self._deliver_at_end)

    @property
    def open_runs(self) -> int:
        """How many run segments are open now (bounded by ``max_open_runs``)."""
        return self._table.open_runs

    @property
    def evaluation_stats(self) -> dict[str, int]:
        """Counters of online evaluations: ``queued``, ``skipped_full``, ``no_content``,
        ``tracked``, ``not_sampled``, ``failed``, ``timed_out``."""
        return self._evaluations.stats.as_dict()

    @property
    def tracked_spans(self) -> int:
        """How many open run spans are tracked now."""
        return self._table.tracked_spans

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            # The hot path: most spans of a busy service belong to no run.
            # Each lookup costs ~0.3 us inside a real workload, so rule that
            # out first with the fewest: no run in the context, none open in
            # this process, no run token in baggage.
            ctx = _get_current() if parent_context is None else parent_context
            if SCOPE_CONTEXT_KEY not in ctx and not self._members:
                entries: Mapping[str, object]
                if _BAGGAGE_CONTEXT_KEY is None:
                    entries = otel_baggage.get_all(ctx)
                elif _BAGGAGE_CONTEXT_KEY in ctx:
                    entries = ctx[_BAGGAGE_CONTEXT_KEY]  # type: ignore[assignment]  # baggage's own dict
                else:
                    return
                if TOKEN_BAGGAGE_KEY not in entries:
                    return
            self._on_start(span, ctx)
        except Exception:
            _errors.exception("ldai-otel: on_start failed; span left untouched")

    def _on_start(self, span: Span, parent_context: Context) -> None:
        if LD_MANAGED_KEY in parent_context:
            return  # LaunchDarkly's ManagedModel / ManagedAgent tracks this work itself
        # What ai_run put in the context (no cast: this runs for every run span).
        scope: RunScope | None = parent_context.get(SCOPE_CONTEXT_KEY)  # type: ignore[assignment]
        parent = span.parent
        segment = self._members.get(parent.span_id) if parent is not None else None
        span_context = span.get_span_context()
        span_id = span_context.span_id
        local_root = False
        if scope is not None and scope.trace_id is None:
            # The ai_run span itself: it opens (or rejoins) the run. ai_run
            # made the binding when it knew the trace, and writes its identity
            # on its span itself.
            binding = scope.binding or Binding.create(run_id_for_trace(span_context.trace_id), scope.info, ORIGIN)
            local_root = True
        elif segment is not None and parent is not None:
            # The parent span is a run span: innermost run wins, and children
            # join even when the server code did not attach the context.
            # The common case of every run span but the first: no new segment.
            joined = self._table.join(span_id, parent.span_id, segment)
            if joined is not None:
                if self._stamp_all or not MARKER_KEYS.isdisjoint(span.attributes or ()):
                    span.set_attributes(joined.span_attributes)
                return
            binding = segment.binding  # closed meanwhile: open the next segment
        elif scope is not None and scope.trace_id is not None:
            binding = scope.binding or Binding.create(run_id_for_trace(scope.trace_id), scope.info, ORIGIN)
        else:
            value = otel_baggage.get_baggage(TOKEN_BAGGAGE_KEY, parent_context)
            if value is None:
                return
            resumed = self._downstream.resume(span, value, parent_context)
            if resumed is None:
                return
            binding = resumed
            local_root = True
        used, evicted, role = self._table.start(
            span_id, parent.span_id if parent is not None else 0, binding, local_root
        )
        if local_root and scope is not None and scope.trace_id is None:
            scope.binding = used  # ai_run reads the runId from it
            entered = CONTINUATION if role == CONTINUATION else ORIGIN
            if used is not binding:  # an open segment's binding won: its identity on the span
                span.set_attributes(used.root_attributes(entered))
            else:
                # ai_run wrote the identity; add what only the processor stamps (emitter, entry).
                span.set_attributes(used.root_attributes(entered, IDENTITY_KEYS))
        elif local_root or role == CONTINUATION:
            # The span that resumed a run, or entered a later segment of an emitted run: its
            # identity and how it entered, so readers of ended spans rebuild the role (model/roles.py).
            span.set_attributes(used.root_attributes(CONTINUATION if role == CONTINUATION else binding.role))
        elif self._stamp_all or not MARKER_KEYS.isdisjoint(span.attributes or ()):
            # GenAI spans (marked at start).
            span.set_attributes(used.span_attributes)
        if evicted:
            self._emitter.submit(evicted)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            members = self._members
            if not members:
                return  # no run open in this process: the hot path
            span_id = span.context.span_id
            if span_id not in members:
                return
            self._on_end(span, span_id)
        except Exception:
            _errors.exception("ldai-otel: on_end failed; span ignored")

    def _on_end(self, span: ReadableSpan, span_id: int) -> None:
        # The dialects read the span later, on the emitter thread: off the
        # app's thread, like summarizing and building LaunchDarkly events,
        # as long as the spans held for that stay within their bound.
        # Spans no dialect marks (most of a run's spans: HTTP, database) are
        # not kept at all: held spans survive into older GC generations, and
        # the collections that then walk them run on the app's thread.
        table = self._table
        observation = ended_span = None
        if self._dialects.may_observe(span):
            if table.can_defer:
                ended_span = span
            else:
                observation = self._dialects.observe(span)
        closed = table.end(
            span_id,
            observation,
            span.status.status_code is StatusCode.ERROR,
            span.start_time or 0,
            span.end_time or 0,
            ended_span=ended_span,
        )
        if closed is not None:
            self._emitter.submit([closed])

    def _before_emit(self, segment: Segment) -> None:
        # On the emitter thread, while the segment's ended spans are held.
        info = segment.binding.info
        if info.evaluation is not None:
            self._judges.on_segment_closed(segment)
        if self._evaluation_events is not None and info.graph is None and segment.pending:
            self._evaluation_events.on_segment_closed(segment.binding.run_id, info, segment.pending)

    def _expire(self) -> None:
        self._emitter.submit(self._table.expire())

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Closes every open segment, emits it, and waits until the client posted it.

        When it returns True, the runs' events and any other event queued on
        the client before the call have been posted (or given up on by the
        client after its retry): a serverless handler's last call.

        Args:
            timeout_millis: The most this call waits; delivery goes on after it.

        Returns:
            True when everything was emitted and the client confirmed posting it
            in time (for a client that cannot tell, such as an offline one or a
            test double: once everything was handed to it).
        """
        try:
            return deliver_held_runs(
                self._table,
                self._emitter,
                self._ld_client,
                max(0.0, timeout_millis / 1000.0),
                settle=self._evaluations.flush,  # judged runs: their results go through the client too
            )
        except Exception:
            _errors.exception("ldai-otel: force_flush failed")
            return False

    def shutdown(self) -> None:
        """Closes and emits every open segment, waits until the client posted them, stops the emitter.

        Waits at most ``delivery_timeout_s`` in all. The LaunchDarkly client
        stays open: the app owns it.
        """
        if self._shut_down:
            return
        self._shut_down = True
        try:
            self._exit_hooks.remove()
            clear_active_codec(self._codec)
            deadline = time.monotonic() + self._delivery_timeout_s
            deliver_held_runs(
                self._table,
                self._emitter,
                self._ld_client,
                self._delivery_timeout_s,
                settle=self._evaluations.flush,
            )
            # What the emitter did not finish in time it still emits before its thread ends.
            self._emitter.shutdown(timeout_s=max(0.0, deadline - time.monotonic()))
            self._evaluations.shutdown(timeout_s=max(0.0, deadline - time.monotonic()))
        except Exception:
            _errors.exception("ldai-otel: shutdown failed")

    def _deliver_at_end(self) -> None:
        """Before the client closes, and at exit: hand every run over and wait for its posting."""
        if not self._shut_down:
            deliver_held_runs(
                self._table, self._emitter, self._ld_client, self._delivery_timeout_s, settle=self._evaluations.flush
            )
