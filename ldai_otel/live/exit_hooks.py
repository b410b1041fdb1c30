"""Delivering a processor's runs before its LaunchDarkly client closes, and at exit.

Runs close on the app's threads and are emitted through the LaunchDarkly
client from the processor's emitter thread. Two endings used to lose them:

- The app closes its client first (``ld_client.close()`` at the end of a script
  or a job), and the OpenTelemetry SDK's exit hook shuts the processor down
  later: its runs then go to a client whose event processor has stopped.
- The process just exits: the client's threads are daemons, so whatever the
  processor emitted last is never posted.

:class:`ExitHooks` runs the processor's delivery at both moments: on the thread
that calls ``close()`` on the given client instance, before the client stops
(the instance's ``close`` is wrapped; its class, and every other client, are
left alone), and from an ``atexit`` hook. ``os._exit``, SIGKILL and a SIGTERM
the app does not handle end the process without either.
"""

from __future__ import annotations

import atexit
import functools
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.live.delivery import can_wait, client_closed, flush_and_wait

if TYPE_CHECKING:
    from ldai_otel.live.emitter import SegmentEmitter
    from ldai_otel.live.run_table import RunTable

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)
_warnings = RateLimitedLogger(_logger)


def _call(weak: weakref.WeakMethod[Callable[[], Any]], when: str) -> None:
    """Calls the hook if its owner is still alive; never raises (an exit path)."""
    hook = weak()
    if hook is None:
        return
    try:
        hook()
    except Exception:
        _errors.exception("ldai-otel: delivering runs %s failed", when)


class ExitHooks:
    """Calls ``deliver`` before ``ld_client.close()`` and at interpreter exit.

    Holds its owner weakly: neither the client nor ``atexit`` keeps a processor
    alive. Nothing global is replaced, only the one client instance's ``close``
    (a client whose ``close`` cannot be wrapped still gets the exit hook).

    Args:
        ld_client: The LaunchDarkly client whose ``close`` is wrapped.
        deliver: A bound method of the owner: emits what the owner holds and
            waits (bounded) for the client to post it.
    """

    def __init__(self, ld_client: Any, deliver: Callable[[], Any]):
        self._weak_deliver = weakref.WeakMethod(deliver)
        self._wrap_close(ld_client)
        self._at_exit = functools.partial(_call, self._weak_deliver, "at exit")
        atexit.register(self._at_exit)

    def _wrap_close(self, ld_client: Any) -> None:
        original = getattr(ld_client, "close", None)
        if not callable(original):
            return
        weak_deliver = self._weak_deliver

        @functools.wraps(original)
        def close(*args: Any, **kwargs: Any) -> Any:
            # The client's own close then flushes what was handed over and waits
            # for its delivery workers, as it always does.
            _call(weak_deliver, "before the LaunchDarkly client closed")
            return original(*args, **kwargs)

        try:
            # An instance attribute shadows the class's method, for this client only;
            # `with client:` calls it too (LDClient.__exit__ calls self.close()).
            ld_client.close = close
        except Exception:
            _logger.debug("ldai-otel: cannot hook close() of %r; runs are delivered at exit only", type(ld_client))

    def remove(self) -> None:
        """Stops the exit hook (the owner shut down). The close wrapper stays, inert."""
        atexit.unregister(self._at_exit)


def deliver_held_runs(
    table: RunTable,
    emitter: SegmentEmitter,
    ld_client: Any,
    timeout_s: float,
    settle: Callable[[float], bool] | None = None,
) -> bool:
    """Closes every open segment, emits everything queued, waits until the client posted it.

    Args:
        table: The processor's open segments (still-open runs go with what they have).
        emitter: The processor's emitter.
        ld_client: The client the events go through.
        timeout_s: The most this call waits; delivery goes on after it.
        settle: Waits (at most the seconds it is given) for work that emission
            started and that sends through the client too (the runs' judges).

    Returns:
        True when everything was emitted and the client confirmed posting it in
        time; for a client that cannot tell (offline, a test double), once
        everything was handed to it. False once the client is closed.
    """
    deadline = time.monotonic() + timeout_s
    emitter.submit(table.drain())
    emitted = emitter.flush(timeout_s)
    if settle is not None:
        emitted = settle(max(0.0, deadline - time.monotonic())) and emitted
    if client_closed(ld_client):
        return False  # nothing can be sent any more; the emitter says what is lost
    if not can_wait(ld_client):
        ld_client.flush()
        return bool(emitted)
    if flush_and_wait(ld_client, deadline - time.monotonic()):
        return bool(emitted)
    _warnings.warning(
        "ldai-otel: the LaunchDarkly client did not confirm within %.1f s that it posted the runs' "
        "events; they are lost if the process ends now",
        timeout_s,
    )
    return False
