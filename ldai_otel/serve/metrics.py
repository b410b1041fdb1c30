"""``ldai-otel serve``'s own telemetry: Prometheus metrics and the refusal log lines.

The trace buffer's counters are read at scrape time (a collector over
``TraceBuffer.stats``), so the hot path pays for no metric objects; only
refusals and LaunchDarkly events are counted as they happen, here.

Each refused request writes one structured line (``key=value``) on stderr,
rate-limited per (reason, protocol), so a misconfigured exporter that retries
forever cannot flood the logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.serve.traces import TraceBuffer

_logger = logging.getLogger("ldai_otel.serve")
_refusals = RateLimitedLogger(_logger, interval_s=10.0)

PREFIX = "ldai_otel_serve_"
_SKIPPED = {
    "duplicate": "spans_duplicate",
    "emitted_in_process": "spans_emitted_in_process",
    "launchdarkly_tracked": "spans_launchdarkly_tracked",
    "in_no_run": "spans_in_no_run",
    "unresolved": "spans_unresolved",
}
_DROPPED_MARKERS = ("will be dropped", "were dropped", "avoid dropping events")
"""ldclient's own log lines when its inbox or event buffer overflows, or a delivery is given up.
ldclient exposes no public count of dropped events, and logs once per overflow episode:
the metric counts those reports, not events."""


class ServeMetrics(Collector):
    """Serve's metrics, in a registry of their own (``exposition()`` for ``GET /metrics``).

    Args:
        buffer: The trace buffer whose counters and fill are reported.
        max_spans: The buffer's span bound (for the fill ratio).
        queued: How many closed segments wait for the LaunchDarkly client.
    """

    def __init__(self, buffer: TraceBuffer, max_spans: int, queued: Callable[[], int]):
        self._buffer = buffer
        self._max_spans = max_spans
        self._queued = queued
        # One lock guards the counters below (receivers' threads, the emitter's, ldclient's).
        self._lock = threading.Lock()
        self._requests_refused: dict[tuple[str, str], int] = {}
        self.events_sent = 0
        self.events_dropped = 0
        self.spool: Callable[[], dict[str, float]] | None = None
        """The spool's figures (``_serve_spool.Spool.view``) when serve has one."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def refused(self, protocol: str, reason: str, status: object, detail: str = "") -> None:
        """Counts one refused request and logs it (rate-limited per reason and protocol).

        The first line of a kind carries its detail; the suppressed ones are only counted.
        """
        with self._lock:
            key = (protocol, reason)
            self._requests_refused[key] = self._requests_refused.get(key, 0) + 1
            first = self._requests_refused[key] == 1
        _refusals.warning("event=request_refused protocol=%s reason=%s status=%s", protocol, reason, status)
        if first:
            _logger.warning(
                "event=request_refused_detail protocol=%s reason=%s detail=%r", protocol, reason, detail[:200]
            )

    def event_sent(self) -> None:
        """Counts one event handed to the LaunchDarkly client."""
        with self._lock:
            self.events_sent += 1

    def watch_ldclient(self) -> logging.Handler:
        """A handler on ldclient's logger that counts its dropped-events warnings; returns it."""
        metrics = self

        class _Dropped(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                text = record.getMessage()
                # Diagnostic events are the SDK's own telemetry, not serve's metrics.
                if "diagnostic" not in text and any(marker in text for marker in _DROPPED_MARKERS):
                    with metrics._lock:
                        metrics.events_dropped += 1

        handler = _Dropped(level=logging.WARNING)
        logging.getLogger("ldclient").addHandler(handler)
        return handler

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return bytes(generate_latest(self.registry))

    def collect(self) -> Iterator[Any]:
        """Builds the metric families at scrape time (``prometheus_client`` collector protocol)."""
        buffer = self._buffer
        stats = buffer.stats
        with self._lock:
            requests_refused = dict(self._requests_refused)
            sent, dropped = self.events_sent, self.events_dropped
        spans_refused = {"buffer_full": stats.spans_refused_full, "too_many_spans": stats.spans_refused_too_many}

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(PREFIX + name, doc, value=value)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, value=value)

        yield counter("spans_received", "Spans taken into the trace buffer.", stats.spans_received)
        family = CounterMetricFamily(
            PREFIX + "spans_refused", "Spans of requests the buffer refused, by reason.", labels=["reason"]
        )
        for reason, value in sorted(spans_refused.items()):
            family.add_metric([reason], value)
        yield family
        family = CounterMetricFamily(
            PREFIX + "requests_refused",
            "Refused export requests.",
            labels=["protocol", "reason"],
        )
        for (protocol, reason), value in sorted(requests_refused.items()):
            family.add_metric([protocol, reason], value)
        yield family
        family = CounterMetricFamily(PREFIX + "spans_skipped", "Spans taken, not counted.", labels=["reason"])
        for reason, attribute in _SKIPPED.items():
            family.add_metric([reason], getattr(stats, attribute))
        yield family
        yield counter("runs_emitted", "Run segments emitted (all roles).", stats.segments_emitted)
        yield counter("late_spans", "Spans that arrived after their run was emitted (continuations).", stats.spans_late)
        yield counter("traces_evicted", "Traces decided early, with what they had, at a bound.", stats.traces_cut)
        yield gauge("traces_held", "Traces in the buffer now.", buffer.traces)
        yield gauge("spans_held", "Spans in the buffer now.", buffer.spans)
        yield gauge("spans_peak", "The most spans the buffer has held at once.", stats.spans_peak)
        yield gauge("buffer_fill_ratio", "Spans held over --max-spans.", buffer.spans / self._max_spans)
        yield gauge("launchdarkly_segments_queued", "Run segments waiting for the LaunchDarkly client.", self._queued())
        yield counter("launchdarkly_events", "Events handed to the LaunchDarkly client.", sent)
        doc = "Times the LaunchDarkly client logged that it dropped events (once per overflow episode)."
        yield counter("launchdarkly_drop_reports", doc, dropped)
        yield counter(
            "traces_spilled", "Traces past --max-spans-per-trace kept in the spool, not memory.", stats.traces_spilled
        )
        if self.spool is not None:
            yield from self._spool_families(self.spool(), stats)

    def _spool_families(self, view: dict[str, float], stats: Any) -> Iterator[Any]:
        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(PREFIX + name, doc, value=value)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, value=value)

        yield gauge("spool_bytes", "Bytes in the spool's files now.", view["bytes"])
        yield gauge("spool_files", "Spool files now (each deleted once every run in it is delivered).", view["files"])
        yield gauge("spool_files_pinned", "Spool files holding spans of runs not yet delivered.", view["pinned"])
        yield counter("spool_records_replayed", "Spool records read back at start.", stats.records_replayed)
        yield counter("spool_runs_replayed", "Run segments emitted from spans read back at start.", stats.runs_replayed)
        doc = "Run segments emitted again after a restart that the previous process may have delivered."
        yield counter("spool_runs_resent", doc, stats.runs_resent)
        doc = "Spool or marks records skipped at start as damaged (a torn or corrupted tail)."
        yield counter("spool_damaged_records", doc, view["damaged"])
        yield counter("spool_fsyncs", "fsync calls on the spool (one per group of requests).", view["fsyncs"])
        yield counter(
            "spool_runs_delivered", "Runs marked delivered (the client posted their events).", view["delivered"]
        )
        doc = "Longest time from a delivery's flush to its durable mark: a kill inside it may re-send runs."
        yield gauge("spool_resend_window_seconds", doc, view["resend_window"])


class CountingClient:
    """The LaunchDarkly client, with each ``track`` call counted (what serve hands it).

    Args:
        client: The ``ldclient.LDClient``.
        metrics: Where the count goes.
    """

    def __init__(self, client: Any, metrics: ServeMetrics):
        self._client = client
        self._metrics = metrics

    def track(self, *args: Any, **kwargs: Any) -> Any:
        """``LDClient.track``, counted."""
        self._metrics.event_sent()
        return self._client.track(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
