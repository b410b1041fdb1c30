"""Rate-limited warnings for bad input (forged baggage, wrong-typed attributes), and errors.

Bad input arrives at request rate; a warning per span would flood the host
app's logs. Each distinct message is logged at most once per interval, with a
count of what was suppressed in between.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import weakref

_DEFAULT_INTERVAL_S = 60.0
_MAX_MESSAGES = 256
_ALL: weakref.WeakSet[RateLimitedLogger] = weakref.WeakSet()


def reset_all() -> None:
    """Forgets what every limiter has logged (for tests that assert on log lines)."""
    for limiter in list(_ALL):
        limiter.reset()


def largest_table() -> int:
    """The most messages any limiter remembers now (bounded; for memory checks)."""
    return max((limiter.size for limiter in list(_ALL)), default=0)


class RateLimitedLogger:
    """Logs each (template, arguments) at most once per ``interval_s`` seconds.

    Keying on the arguments too (an attribute key, a rejection reason) keeps
    one kind of bad input from hiding another. Callers pass short, bounded
    arguments (keys, reasons, type names), never raw input.

    Args:
        logger: The logger to write to.
        interval_s: Minimum seconds between two lines of the same template.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = _DEFAULT_INTERVAL_S):
        self._logger = logger
        self._interval_s = interval_s
        # One lock guards the per-template bookkeeping; hooks on any thread log.
        self._lock = threading.Lock()
        self._last: dict[tuple[str, tuple[object, ...]], float] = {}
        self._suppressed: dict[tuple[str, tuple[object, ...]], int] = {}
        _ALL.add(self)

    @property
    def size(self) -> int:
        """How many distinct messages are remembered (at most 256)."""
        with self._lock:
            return len(self._last)

    def reset(self) -> None:
        """Forgets what was logged."""
        with self._lock:
            self._last.clear()
            self._suppressed.clear()

    def _admit(self, key: tuple[str, tuple[object, ...]]) -> int | None:
        """None when ``key`` was logged recently; else how many were suppressed since."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            if len(self._last) >= _MAX_MESSAGES and key not in self._last:
                # First arguments can come from the network: stay bounded.
                self._last.clear()
                self._suppressed.clear()
            self._last[key] = now
            return self._suppressed.pop(key, 0)

    def warning(self, msg: str, *args: object) -> None:
        """Log ``msg % args`` at WARNING unless the template was logged recently."""
        suppressed = self._admit((msg, args))
        if suppressed is None:
            return
        if suppressed:
            self._logger.warning(msg + " (%d similar messages suppressed)", *args, suppressed)
        else:
            self._logger.warning(msg, *args)

    def exception(self, msg: str, *args: object) -> None:
        """Log ``msg % args`` at ERROR with the current traceback, rate-limited.

        Unlike :meth:`warning`, the line is keyed on the template and the
        exception's type only: arguments here name runs and configs, which
        are unbounded, and one failing code path must not log once per run.
        """
        exc_type = sys.exc_info()[0]
        suppressed = self._admit((msg, (exc_type.__name__ if exc_type is not None else "",)))
        if suppressed is None:
            return
        if suppressed:
            self._logger.exception(msg + " (%d similar messages suppressed)", *args, suppressed)
        else:
            self._logger.exception(msg, *args)
