"""The trace buffer's refusal and counters (``serve.traces.TraceBuffer``), shared with the receivers and metrics."""

from __future__ import annotations

BUFFER_FULL = "buffer_full"
TOO_MANY_SPANS = "too_many_spans"
SPOOL_FULL = "spool_full"
DISK_FULL = "disk_full"
FULL = (BUFFER_FULL, SPOOL_FULL, DISK_FULL)
"""Refusals that room will end (429 / ``RESOURCE_EXHAUSTED`` with a ``RetryInfo``)."""


class Refused(Exception):
    """A request the buffer did not take, none of its spans.

    Args:
        reason: ``BUFFER_FULL`` or ``TOO_MANY_SPANS`` (a metric label).
        retryable: Whether sending it again later can succeed.
        message: For the answer's status message.
    """

    def __init__(self, reason: str, retryable: bool, message: str):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.message = message


class Stats:
    """Counters of what the buffer did, for logs and the metrics endpoint."""

    __slots__ = (
        "spans_received",
        "spans_duplicate",
        "segments_emitted",
        "spans_emitted_in_process",
        "spans_launchdarkly_tracked",
        "spans_in_no_run",
        "spans_unresolved",
        "traces_cut",
        "spans_refused_full",
        "spans_refused_too_many",
        "spans_peak",
        "spans_late",
        "runs_replayed",
        "runs_resent",
        "traces_spilled",
        "records_replayed",
    )

    def __init__(self) -> None:
        self.spans_received = 0
        self.spans_duplicate = 0
        """Skipped: a span already decided, received again."""
        self.segments_emitted = 0
        self.spans_emitted_in_process = 0
        """Skipped: an in-process processor already emitted them."""
        self.spans_launchdarkly_tracked = 0
        """Skipped: under a root of LaunchDarkly's own AI SDKs."""
        self.spans_in_no_run = 0
        self.spans_unresolved = 0
        """Dropped when their trace was decided for good with an ancestor still missing."""
        self.traces_cut = 0
        """Traces decided early because a bound was reached."""
        self.spans_refused_full = 0
        """Refused (retryable) because the buffer was full."""
        self.spans_refused_too_many = 0
        """Refused for good: one request held more spans than the whole bound."""
        self.spans_peak = 0
        """The most spans held at once."""
        self.spans_late = 0
        """Spans emitted in continuation segments (arrived after their run was emitted)."""
        self.runs_replayed = 0
        """Segments emitted from traces a restart read back from the spool."""
        self.runs_resent = 0
        """Of those, segments the previous process may already have delivered (a kill inside the window)."""
        self.traces_spilled = 0
        """Traces past ``max_spans_per_trace`` kept in the spool instead of memory until decided."""
        self.records_replayed = 0
        """Spool records read back at start."""
