"""The processor's emitter thread: closed segments emitted off the app's thread.

Closing a segment happens inside ``on_end`` on the app's thread; reading its
spans through the dialects, summarizing it and building LaunchDarkly events
does not have to. :class:`SegmentEmitter` queues closed segments and a daemon
worker emits them (:func:`ldai_otel.rules.emission.emit_segment`). The worker
also runs a periodic tick, which the processor uses to expire old segments.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.live.delivery import client_closed
from ldai_otel.live.ld_managed import skip_segment
from ldai_otel.model.segment import Segment
from ldai_otel.rules.book import Summary
from ldai_otel.rules.emission import Observe, emit_segment

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)
_warnings = RateLimitedLogger(_logger)


class SegmentEmitter:
    """A daemon worker that emits closed segments and runs a periodic tick.

    Args:
        ld_client: The ``ldclient.LDClient`` events go through.
        tick: Called on the worker about every ``tick_interval_s``.
        tick_interval_s: Seconds between ticks.
        max_queue: Most segments waiting; past it, :meth:`submit` emits on the
            caller's thread rather than drop metrics.
        on_emitted: Called with (segment, summary) after each emission.
        observe: Reads a segment's pending spans before it is summarized
            (``Dialects.observe``), on the worker.
        batch_interval_s: After the first segment of a batch arrives, the
            worker waits this long for more before emitting them together.
        batch_size: A batch this large is emitted at once.
        before_emit: Called with each closed segment just before it is
            emitted, while its ended spans are still held (online
            evaluations read them). Errors it raises are logged.
    """

    def __init__(
        self,
        ld_client: Any,
        tick: Callable[[], None],
        tick_interval_s: float = 1.0,
        max_queue: int = 10_000,
        on_emitted: Callable[[Segment, Summary], None] | None = None,
        observe: Observe | None = None,
        batch_interval_s: float = 0.1,
        batch_size: int = 256,
        before_emit: Callable[[Segment], None] | None = None,
    ):
        self._ld_client = ld_client
        self._before_emit = before_emit
        self._batch_interval_s = batch_interval_s
        self._batch_size = batch_size
        self._observe = observe
        self._tick = tick
        self._tick_interval_s = tick_interval_s
        self._max_queue = max_queue
        self._on_emitted = on_emitted
        self._init_worker_state()
        self._start_worker()
        # Pre-fork servers (gunicorn) fork after the processor exists: the
        # child needs its own lock and worker thread, threads do not survive fork.
        if hasattr(os, "register_at_fork"):
            weak_reinit = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (weak_reinit() or (lambda: None))())

    def _init_worker_state(self) -> None:
        # One condition (and its lock) guards the queue and the counters.
        self._condition = threading.Condition(threading.Lock())
        self._queue: collections.deque[Segment] = collections.deque()
        self._in_flight = 0
        self._flushing = 0  # callers waiting in flush(): emit without batching
        self._shutdown = False
        # Segments queued and emitted so far: queued ones are emitted in order, so once
        # ``_emitted`` reaches a reading of ``_queued_total`` every segment queued before it is.
        self._queued_total = 0
        self._emitted = 0

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name="ldai-otel-emitter", daemon=True)
        self._worker.start()

    def _after_fork_in_child(self) -> None:
        # Segments queued in the parent are the parent's to emit.
        self._init_worker_state()
        self._start_worker()

    @property
    def queued(self) -> int:
        """How many segments wait to be emitted now."""
        with self._condition:
            return len(self._queue) + self._in_flight

    def submit(self, segments: list[Segment]) -> None:
        """Queues closed segments for emission; never blocks on the network."""
        if not segments:
            return
        overflow: list[Segment] = []
        with self._condition:
            if self._shutdown:
                overflow = segments
            else:
                was_empty = not self._queue
                room = self._max_queue - len(self._queue)
                self._queue.extend(segments[: max(room, 0)])
                overflow = segments[max(room, 0) :]
                self._queued_total += len(segments) - len(overflow)
                if was_empty or len(self._queue) >= self._batch_size:
                    # One wake-up per batch, not per segment (see _run).
                    # notify_all, since a flush() may wait on the same condition.
                    self._condition.notify_all()
        # A full queue or a stopped worker: emit here rather than lose metrics
        # (ldclient.track only enqueues, it does not touch the network).
        for segment in overflow:
            self._emit(segment)

    def flush(self, timeout_s: float) -> bool:
        """Waits until everything submitted so far is emitted; False on timeout."""
        with self._condition:
            self._flushing += 1
            self._condition.notify_all()
            try:
                return self._condition.wait_for(lambda: not self._queue and self._in_flight == 0, timeout=timeout_s)
            finally:
                self._flushing -= 1

    @property
    def emitted_total(self) -> int:
        """Segments the worker has emitted so far."""
        with self._condition:
            return self._emitted

    def wait_emitted(self, timeout_s: float) -> bool:
        """Waits until every segment submitted so far has been emitted (others may follow); False on timeout.

        Unlike :meth:`flush` it does not need the queue to run empty, so it ends under steady traffic.
        """
        with self._condition:
            target = self._queued_total
            self._flushing += 1
            self._condition.notify_all()
            try:
                return self._condition.wait_for(lambda: self._emitted >= target, timeout=timeout_s)
            finally:
                self._flushing -= 1

    def shutdown(self, timeout_s: float) -> bool:
        """Emits what is queued, then stops the worker."""
        done = self.flush(timeout_s)
        with self._condition:
            self._shutdown = True
            self._condition.notify_all()
        self._worker.join(timeout=timeout_s)
        return done

    def _emit_now(self) -> bool:
        return self._shutdown or self._flushing > 0 or len(self._queue) >= self._batch_size

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._queue and not self._shutdown:
                    self._condition.wait(timeout=self._tick_interval_s)
                if self._queue and not self._emit_now():
                    # Let a batch gather: each time this thread wakes it takes
                    # the GIL from the app's threads, and every hand-over costs
                    # them CPU (see docs/performance.md).
                    self._condition.wait_for(self._emit_now, timeout=self._batch_interval_s)
                if self._shutdown and not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
                self._in_flight = len(batch)
            for segment in batch:
                self._emit(segment)
            with self._condition:
                self._in_flight = 0
                self._emitted += len(batch)
                self._condition.notify_all()
            try:
                self._tick()
            except Exception:
                _errors.exception("ldai-otel: periodic expiry failed")

    def _emit(self, segment: Segment) -> None:
        if skip_segment(segment):
            return  # all it held was a managed call LaunchDarkly's SDK already tracked
        if client_closed(self._ld_client):
            # The client would take the events and never send them: say so once in a while.
            _warnings.warning(
                "ldai-otel: a run of config %s ended after its LaunchDarkly client was closed; "
                "what it added since is not sent (close the client after the runs end)",
                segment.binding.info.config_key,
            )
            return
        if self._before_emit is not None:
            try:
                self._before_emit(segment)
            except Exception:
                _errors.exception("ldai-otel: online evaluation of a run failed; its metrics are sent")
        try:
            summary = emit_segment(self._ld_client, segment, self._observe)
        except Exception:
            _errors.exception(
                "ldai-otel: emitting run %s of config %s failed",
                segment.binding.run_id,
                segment.binding.info.config_key,
            )
            return
        if self._on_emitted is not None:
            try:
                self._on_emitted(segment, summary)
            except Exception:
                _errors.exception("ldai-otel: on_emitted callback failed")
