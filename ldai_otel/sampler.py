"""Exact run metrics under head sampling: record run spans the app's sampler would drop.

Span processors only see *recording* spans. Under head sampling (say
``ParentBased(TraceIdRatioBased(0.01))``) 99% of traces are never recorded, so
:class:`~ldai_otel.LDAISpanProcessor` would see 1% of the runs and LaunchDarkly
would get 1% of the metrics. :class:`RunRecordingSampler` wraps the app's
sampler: where it says DROP for a span of an AI Config run, the span is made
RECORD_ONLY instead. A RECORD_ONLY span is recorded (processors see it) but
its ``sampled`` trace flag stays off, so exporters skip it and the trace flags
propagated downstream are unchanged: what reaches the tracing backend is
exactly what the app's sampler chose.

Usage::

    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from ldai_otel.sampler import RunRecordingSampler

    provider = TracerProvider(sampler=RunRecordingSampler(ParentBased(TraceIdRatioBased(0.01))))
    provider.add_span_processor(LDAISpanProcessor(ld_client))

Under ``opentelemetry-instrument`` (zero code), name one of the wrapped
standard samplers instead; ``OTEL_TRACES_SAMPLER_ARG`` is the ratio, as for
the SDK's own ``*traceidratio`` samplers::

    OTEL_TRACES_SAMPLER=ldai_parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01

The names (entry points of the ``opentelemetry_traces_sampler`` group) are the
SDK's, prefixed with ``ldai_``: ``ldai_parentbased_traceidratio``,
``ldai_traceidratio``, ``ldai_parentbased_always_off`` and ``ldai_always_off``
(the last two: record runs for their metrics, export no trace at all).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from ldai_otel import baggage as run_baggage
from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model import attributes as A
from ldai_otel.scope import SCOPE_CONTEXT_KEY

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)  # every exception path is rate-limited


class RunRecordingSampler(Sampler):
    """Wraps the app's sampler so that spans of AI Config runs are always recorded.

    The wrapped sampler decides first, and its decision stands whenever it
    records the span (RECORD_AND_SAMPLE or RECORD_ONLY). Where it says DROP,
    the span is made RECORD_ONLY (recorded, not exported) when it belongs to a
    run, judged from what exists at sampling time:

    1. the parent context carries a run opened by :func:`~ldai_otel.ai_run`
       (the ``ai_run`` span itself and everything started inside it, threads
       and asyncio tasks included as far as the OTel context reaches);
    2. the parent span is a recording span of this process stamped as a run
       span (``ld.ai_config.run_id``): children of a RECORD_ONLY run span,
       which ``ParentBased`` would drop because their parent is not sampled,
       even when the code that started them did not attach the run context;
    3. the parent context carries run baggage from an upstream service that
       the live :class:`~ldai_otel.LDAISpanProcessor` would honour (signed for
       this environment, and for this trace), so a downstream segment is exact
       too.

    Everything else keeps the wrapped sampler's decision.

    Performance:
        A span the wrapped sampler records pays one extra method call. A
        dropped span pays one context lookup; the parent's attributes are read
        only when the parent is recording but not sampled (so nearly always a
        RECORD_ONLY run span), and baggage is only verified when it carries a
        run token (verification is HMAC-SHA256, cached per distinct value by
        the processor's codec). Recording the spans of every run costs what a
        fully sampled run costs in this process (span objects, processors),
        but nothing in exporters, the network or the tracing backend.

    Security:
        Baggage is untrusted input. A run token in baggage turns dropped spans
        into recorded ones only when the processor's codec verifies it: a
        forged, oversized, replayed (other trace) or unsigned token leaves the
        wrapped sampler's DROP in place, so a caller cannot make the service
        record arbitrary traffic. With ``trust_unsigned_tokens=True`` on the
        processor any caller can (the spans are still not exported). Nothing
        here changes what is exported or the trace flags sent to other
        services.

    Args:
        delegate: The app's sampler, e.g. ``ParentBased(TraceIdRatioBased(0.01))``.
    """

    def __init__(self, delegate: Sampler):
        self._delegate = delegate

    @property
    def delegate(self) -> Sampler:
        """The wrapped sampler."""
        return self._delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is not Decision.DROP:
            return result
        try:
            keep = self._belongs_to_run(parent_context, trace_id)
        except Exception:  # never break span creation
            _errors.exception("ldai-otel: run check in the sampler failed; keeping the wrapped decision")
            return result
        if not keep:
            return result
        # The span's own attributes come from the sampling result: keep them.
        return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)

    def get_description(self) -> str:
        return "RunRecordingSampler{%s}" % self._delegate.get_description()

    def _belongs_to_run(self, parent_context: Context | None, trace_id: int) -> bool:
        if parent_context is None:
            parent_context = otel_context.get_current()
        if parent_context.get(SCOPE_CONTEXT_KEY) is not None:
            return True
        parent = trace.get_current_span(parent_context)
        if parent.is_recording() and isinstance(parent, ReadableSpan):
            parent_attributes = parent.attributes
            if parent_attributes is not None and A.LD_AI_CONFIG_RUN_ID in parent_attributes:
                return True
        return _resumed_from_baggage(parent_context, trace_id)


def _resumed_from_baggage(parent_context: Context, trace_id: int) -> bool:
    """Whether the parent context carries upstream run baggage the processor would honour.

    Cross-service resumption lives in :mod:`ldai_otel.baggage`; this asks its
    active codec (the live processor's) to verify the entry, so the sampler
    and the processor agree on which baggage resumes a run.
    """
    value = otel_baggage.get_baggage(run_baggage.TOKEN_BAGGAGE_KEY, parent_context)
    if value is None:
        return False
    codec = run_baggage.active_codec()
    if codec is None:  # no live processor: nothing would resume the run
        return False
    return codec.verify_token(value, trace_id) is not None


# --- Factories for OTEL_TRACES_SAMPLER (entry points in pyproject.toml). ---
# The SDK's configurator calls them with the raw OTEL_TRACES_SAMPLER_ARG
# (a string, or None when unset).


def _ratio(arg: object) -> float:
    """OTEL_TRACES_SAMPLER_ARG as a ratio; 1.0 (the SDK's own default) when unusable."""
    try:
        rate = float(arg)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        _logger.warning("ldai-otel: OTEL_TRACES_SAMPLER_ARG is not a ratio in [0, 1]; using 1.0")
        return 1.0
    return rate


def parentbased_traceidratio(arg: object = None) -> RunRecordingSampler:
    """``ParentBased(TraceIdRatioBased(arg))``, with every run recorded."""
    return RunRecordingSampler(ParentBased(TraceIdRatioBased(_ratio(arg))))


def traceidratio(arg: object = None) -> RunRecordingSampler:
    """``TraceIdRatioBased(arg)``, with every run recorded."""
    return RunRecordingSampler(TraceIdRatioBased(_ratio(arg)))


def parentbased_always_off(arg: object = None) -> RunRecordingSampler:
    """``ParentBased(ALWAYS_OFF)``: only run spans recorded, no trace exported."""
    return RunRecordingSampler(ParentBased(ALWAYS_OFF))


def always_off(arg: object = None) -> RunRecordingSampler:
    """``ALWAYS_OFF``: only run spans recorded, no trace exported."""
    return RunRecordingSampler(ALWAYS_OFF)
