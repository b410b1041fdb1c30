"""``ldai-otel serve --state-dir``: the spool opened, read back at start, delivered, closed.

The pieces are ``serve.spool`` (the log), ``serve.ledger`` (pins, delivery, marks) and
the trace buffer's spill (``serve.spill``); this module wires them to serve's
receivers, emitter and LaunchDarkly client. docs/serve-durability.md
describes the whole for operators.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from ldai_otel.live.delivery import can_wait, flush_and_wait
from ldai_otel.serve.ledger import DeliveryLedger
from ldai_otel.serve.spool import SegmentLog, SpoolLocked, lock_directory

_logger = logging.getLogger("ldai_otel.serve")

CONSERVATIVE_DELAY_S = 30.0
"""Without a way to know the client posted (an ldclient without the barrier): wait this long after a flush."""
CLIENT_FLUSH_S = 3600.0
"""The client's own flush timer with a spool: serve's delivery cycles flush it instead, so a post
happens only where the cycle measures it, and the re-send window stays that short."""


class Spool:
    """The spool of one serve process: its lock, log, marks and ledger.

    Args:
        directory: ``--state-dir``.
        max_bytes: ``--spool-max-bytes``.
        file_bytes: ``--spool-file-bytes``.
        fsync: ``--fsync``.
        max_record_bytes: ``--max-request-bytes``.

    Raises:
        SpoolLocked: Another process holds the directory.
    """

    def __init__(self, directory: str, max_bytes: int, file_bytes: int, fsync: str, max_record_bytes: int):
        self.directory = directory
        self._lock_fd = lock_directory(directory)
        self.log = SegmentLog(os.path.join(directory, "spool"), max_bytes, file_bytes, fsync, max_record_bytes)
        marks_policy = "never" if fsync == "never" else "always"
        self.marks = SegmentLog(os.path.join(directory, "marks"), 1 << 60, 8 << 20, marks_policy, 64 << 20)
        self.ledger = DeliveryLedger(self.log, self.marks)
        self._ld_client: Any = None
        self._emitter: Any = None
        self._flushed = 0  # the emitter's emitted count at the last flush that was answered

    def reload(self, request_class: Any, decode: Callable[[Any], list[Any]]) -> Callable[..., Any]:
        """The trace buffer's ``reload``: a trace's spans read back from its records."""
        log = self.log

        def reload(trace_id: int, records: list[Any]) -> list[tuple[int, Any]]:
            found: list[tuple[int, Any]] = []
            for position in records:
                payload = log.read(position)
                if payload is None:
                    continue  # its file is gone (delivered) or damaged
                try:
                    request = request_class.FromString(payload)
                except Exception:
                    continue
                found.extend((position.seq, f) for f in decode(request) if f.trace_id == trace_id)
            return found

        return reload

    def replay(self, buffer: Any, request_class: Any, decode: Callable[[Any], list[Any]], err: TextIO) -> None:
        """Reads the marks and the spool back into ``buffer``; then opens both for appending."""
        start = time.monotonic()
        self.ledger.load()
        delivered, sending = self.ledger.delivered, self.ledger.sending
        records = spans = 0
        for position, payload in self.log.replay():
            try:
                request = request_class.FromString(payload)
            except Exception:
                self.log.corrupt_records += 1  # checksummed, yet not a request: written by something else
                continue
            facts = [f for f in decode(request) if f.trace_id and f.span_id]
            buffer.add_replayed(facts, position, delivered, sending)
            records += 1
            spans += len(facts)
        self.ledger.forget_loaded()
        self.log.start()
        if records or self.log.corrupt_records:
            err.write(
                "ldai-otel serve: read back %d record(s), %d span(s), from %s in %.1fs (%d damaged record(s) skipped)\n"
                % (records, spans, self.directory, time.monotonic() - start, self.log.corrupt_records)
            )

    def start_delivery(self, emitter: Any, ld_client: Any, interval_s: float) -> None:
        """Delivery cycles every ``interval_s`` (the flush interval)."""
        self._emitter = emitter
        self._ld_client = ld_client
        self.ledger.start(interval_s, emitter.wait_emitted, self._deliver, self._events_waiting)

    def _events_waiting(self) -> bool:
        return bool(self._emitter.emitted_total != self._flushed)

    def _deliver(self, timeout_s: float) -> bool:
        emitted = self._emitter.emitted_total
        if can_wait(self._ld_client):
            delivered = flush_and_wait(self._ld_client, timeout_s)
        else:
            self._ld_client.flush()
            time.sleep(CONSERVATIVE_DELAY_S)
            delivered = True
        if delivered:
            self._flushed = emitted
        return delivered

    def close(self) -> None:
        """After the drain: a last delivery; the files go when nothing is left undelivered."""
        self.ledger.stop()
        delivered = False
        try:
            delivered = self.ledger.cycle(self._emitter.wait_emitted, self._deliver, 30.0)
        except Exception:
            _logger.exception("ldai-otel serve: the last delivery cycle failed; the spool is kept")
        empty = delivered and self.ledger.idle()
        self.log.close(remove_all=empty)
        self.marks.close(remove_all=empty)
        os.close(self._lock_fd)

    def release(self) -> None:
        """Lets the directory go without delivering (serve could not start): all of it stays."""
        self.ledger.stop()
        self.log.close(remove_all=False)
        self.marks.close(remove_all=False)
        os.close(self._lock_fd)

    def view(self) -> dict[str, float]:
        """Figures for the metrics endpoint."""
        return {
            "bytes": self.log.size,
            "files": self.log.file_count,
            "damaged": self.log.corrupt_records + self.marks.corrupt_records,
            "fsyncs": self.log.fsyncs,
            "resend_window": self.ledger.resend_window_max,
            "delivered": self.ledger.runs_delivered,
            "pinned": self.ledger.pinned_files,
        }


__all__ = ["Spool", "SpoolLocked", "CLIENT_FLUSH_S"]
