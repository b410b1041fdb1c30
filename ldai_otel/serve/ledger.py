"""What of the spool ``ldai-otel serve`` still needs: pins, delivery, and the marks a restart reads.

A spool file (``serve.spool``) is kept while a trace with spans in it is not yet
settled (decided, nothing of it waiting) and delivered. The trace buffer pins
a file when it takes a span from it and releases the pin, as a
:class:`Settled` entry, once the trace is settled and its segments are handed
to the emitter. A delivery cycle (every flush interval, on a thread of its own)
then waits until those segments are in the LaunchDarkly client, flushes the
client and waits until it has posted them (``live.delivery.flush_and_wait``),
writes a ``delivered`` mark per trace, and deletes the files no longer pinned.

Marks live in a log of their own (same record format): ``sending`` (a trace's
segments are about to be handed to the client; written before, not synced)
and ``delivered`` (synced). A restart skips what is marked delivered, and
counts a run it emits again after a ``sending`` mark with no ``delivered``
mark as re-sent: the client may have posted it just before the kill. That
window, from the flush to the durable mark, is measured (``resend_window_max``).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.serve.spool import SegmentLog

_logger = logging.getLogger("ldai_otel.serve")
_errors = RateLimitedLogger(_logger)

SENDING = 1
DELIVERED = 2
_MARK = struct.Struct("<B16sQ")  # kind, trace id, highest spool sequence number it covers


class Settled(NamedTuple):
    """A trace with nothing left waiting: its spool files and whether it emitted segments."""

    trace_id: int
    last_seq: int
    files: tuple[int, ...]
    emitted: bool


def _encode(kind: int, entries: Iterable[Settled]) -> bytes:
    return b"".join(_MARK.pack(kind, e.trace_id.to_bytes(16, "big"), e.last_seq) for e in entries)


class DeliveryLedger:
    """Pins of spool files, delivery cycles, and the marks log.

    Thread-safe: one lock guards the pins and the released entries; the marks
    log has its own.

    Args:
        log: The spool.
        marks: The marks log.
    """

    def __init__(self, log: SegmentLog, marks: SegmentLog):
        self._log = log
        self._marks = marks
        self._lock = threading.Lock()
        self._pins: dict[int, int] = {}
        self._released: list[Settled] = []
        self._mark_files: dict[int, int] = {}  # marks file -> highest spool sequence number it names
        self.delivered: dict[int, int] = {}
        """Read at start: trace id -> highest sequence number delivered (for the replay; then emptied)."""
        self.sending: dict[int, int] = {}
        """Read at start: trace id -> highest sequence number handed to the client."""
        self.resend_window_max = 0.0
        """Longest time from a delivery's flush to its durable mark (a kill inside may re-send)."""
        self.runs_delivered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Reads the marks log (damage skipped and counted as the spool's is); opens it for appending."""
        for position, payload in self._marks.replay():
            highest = self._mark_files.get(position.file, -1)
            for offset in range(0, len(payload) - _MARK.size + 1, _MARK.size):
                kind, raw, seq = _MARK.unpack_from(payload, offset)
                trace_id = int.from_bytes(raw, "big")
                table = self.delivered if kind == DELIVERED else self.sending
                if seq > table.get(trace_id, -1):
                    table[trace_id] = seq
                highest = max(highest, seq)
            self._mark_files[position.file] = highest
        self._marks.start()

    def forget_loaded(self) -> None:
        """Drops the tables read at start, once the replay has used them."""
        self.delivered = {}
        self.sending = {}

    @property
    def pinned_files(self) -> int:
        with self._lock:
            return len(self._pins)

    def pin(self, file: int) -> None:
        """A trace took a span from ``file`` (called under the trace buffer's lock)."""
        with self._lock:
            self._pins[file] = self._pins.get(file, 0) + 1

    def mark_sending(self, entries: list[Settled]) -> None:
        """Before the entries' segments go to the client: a kill after this may re-send them."""
        emitted = [e for e in entries if e.emitted]
        if not emitted:
            return
        try:
            position = self._marks.append(_encode(SENDING, emitted))
        except Exception:
            _errors.exception("ldai-otel serve: writing a sending mark failed")
            return
        self._note_mark_file(position.file, emitted)

    def release(self, entries: list[Settled]) -> None:
        """The entries' segments are with the emitter: their pins go at the next delivered cycle."""
        if entries:
            with self._lock:
                self._released.extend(entries)

    def _note_mark_file(self, file: int, entries: list[Settled]) -> None:
        highest = max(e.last_seq for e in entries)
        with self._lock:
            if highest > self._mark_files.get(file, -1):
                self._mark_files[file] = highest

    def cycle(
        self,
        wait_emitted: Callable[[float], bool],
        deliver: Callable[[float], bool],
        timeout_s: float,
        events_waiting: bool = False,
    ) -> bool:
        """One delivery: the released entries' events posted, marked, their files freed.

        Args:
            wait_emitted: Waits until every segment submitted so far is in the client.
            deliver: Flushes the client and waits until it has posted (``flush_and_wait``).
            timeout_s: For each wait.
            events_waiting: The client holds events not yet flushed (a run emitted while
                other spans of its trace wait): flushed even with no entry to mark.

        Returns:
            False when the delivery is not known yet (the entries wait for the next cycle).
        """
        with self._lock:
            entries, self._released = self._released, []
        # Entries that emitted nothing (traces in no run) have nothing to deliver.
        emitted = [e for e in entries if e.emitted]
        if emitted:
            if not wait_emitted(timeout_s):
                self._requeue(entries)
                return False
            start = time.monotonic()
            if not deliver(timeout_s):
                self._requeue(entries)
                return False
            position = self._marks.append(_encode(DELIVERED, emitted))
            self._marks.sync(position.seq)
            self._note_mark_file(position.file, emitted)
            window = time.monotonic() - start
            with self._lock:
                self.resend_window_max = max(self.resend_window_max, window)
                self.runs_delivered += len(emitted)
        elif events_waiting:
            deliver(timeout_s)  # nothing to mark: a failed post is the client's to log
        if entries:
            with self._lock:
                for entry in entries:
                    for file in entry.files:
                        left = self._pins.get(file, 0) - 1
                        if left > 0:
                            self._pins[file] = left
                        else:
                            self._pins.pop(file, None)
        self._collect()
        return True

    def _requeue(self, entries: list[Settled]) -> None:
        with self._lock:
            self._released[:0] = entries

    def _collect(self) -> None:
        """Deletes the spool files no trace pins, and the marks files that name only deleted records."""
        with self._lock:
            pinned = set(self._pins)
        for file in self._log.files():
            if file != self._log.active and file not in pinned:
                self._log.delete(file)
        files = self._log.files()
        oldest = files[0] if files else 0
        with self._lock:
            stale = [f for f, highest in self._mark_files.items() if highest < oldest and f != self._marks.active]
            for file in stale:
                del self._mark_files[file]
        for file in stale:
            self._marks.delete(file)

    def idle(self) -> bool:
        """Whether no file is pinned and nothing waits for delivery."""
        with self._lock:
            return not self._pins and not self._released

    def start(
        self,
        interval_s: float,
        wait_emitted: Callable[[float], bool],
        deliver: Callable[[float], bool],
        events_waiting: Callable[[], bool],
    ) -> None:
        """Runs a delivery cycle every ``interval_s`` on a daemon thread, until :meth:`stop`."""

        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.cycle(wait_emitted, deliver, max(30.0, interval_s), events_waiting())
                except Exception:
                    _errors.exception("ldai-otel serve: a delivery cycle failed; the next one retries")

        self._thread = threading.Thread(target=run, name="ldai-otel-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the cycles (the caller runs a last one)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
