"""Emission: a closed segment through LaunchDarkly's own tracker, by the rule book.

Shared by the three sources (docs/design.md, "Three sources, one rule book"):
the processor (live spans in the app's process, on its emitter thread),
``ldai-otel serve`` (OTLP over the network, on the same emitter) and
``ldai-otel inspect`` (OTLP JSON files, into a client that records the events).
The segment's pending spans are read, the rule book summarizes it, and every
metric goes through ``ldai.tracker.LDAIConfigTracker`` (runId, at-most-once
guards, event keys and payloads stay LaunchDarkly's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ldai.tracker import TokenUsage

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.observation import Observation
from ldai_otel.model.segment import Segment
from ldai_otel.rules.book import Summary, summarize
from ldai_otel.rules.trackers import owns_outcome, run_tracker, send

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)
_warnings = RateLimitedLogger(_logger)

Observe = Callable[[Any], Observation | None]
"""Reads one finished span (``Dialects.observe``)."""


def observe_pending(segment: Segment, observe: Observe | None) -> None:
    """Reads the closed segment's pending spans into its observations.

    A span the dialects fail on is logged and skipped; the others still count.
    """
    pending, segment.pending = segment.pending, []
    if observe is None:
        return
    for span in pending:
        try:
            observation = observe(span)
        except Exception:
            _errors.exception("ldai-otel: reading a span of run %s failed; skipping it", segment.binding.run_id)
            continue
        if observation is not None:
            segment.observations.append(observation)


def emit_segment(ld_client: Any, segment: Segment, observe: Observe | None = None) -> Summary:
    """Emits one closed segment's metrics; returns what was computed.

    Each segment gets its own tracker built with the run's runId, so
    LaunchDarkly's at-most-once rules hold per segment, and the role decides
    which metrics a segment owns (docs/design.md, "Roles"). Each metric is sent
    on its own: one that fails is logged (rate-limited) and the others still
    go, so a segment is never lost to one exception.

    Args:
        ld_client: The ``ldclient.LDClient`` the events go through.
        segment: A closed segment.
        observe: Reads the segment's pending spans (``Dialects.observe``).
    """
    if segment.pending:
        observe_pending(segment, observe)
    if segment.binding.info.graph is not None:
        from ldai_otel.rules.graphs import emit_graph  # imports ldai's graph tracker only for graph runs

        return emit_graph(ld_client, segment, emit_segment)[0]
    summary = summarize(segment)
    binding = segment.binding
    info = binding.info
    tracker = run_tracker(ld_client, binding.run_id, info, summary.model_name, summary.provider_name)
    outcome = owns_outcome(segment)
    if outcome and summary.duration_ms is not None:
        send("duration", tracker.track_duration, summary.duration_ms)
    if summary.has_tokens:
        usage = TokenUsage(total=summary.total_tokens, input=summary.input_tokens, output=summary.output_tokens)
        send("tokens", tracker.track_tokens, usage)
    if summary.time_to_first_token_ms is not None:
        send("time to first token", tracker.track_time_to_first_token, summary.time_to_first_token_ms)
    if summary.tool_calls:
        send("tool calls", tracker.track_tool_calls, summary.tool_calls)
    if outcome and summary.success is not None:
        send("the outcome", tracker.track_success if summary.success else tracker.track_error)
    return summary
