"""Knowing when a LaunchDarkly client has handed its queued events to the events endpoint.

``LDClient.flush()`` only schedules a delivery; it returns at once. A script that
closes its client, a serverless handler about to be frozen, and ``serve`` before it
forgets a spooled run all need more: the events that were queued before the call
have been posted (or given up on after the client's own retry).

The client's event processor serves its messages in order on one thread, so a
barrier message posted after a flush is answered only once that flush's payload
has been sent. ``ldclient`` does that with its ``_wait_until_inactive`` (used by
its own tests), which posts a ``test_sync`` message to the processor's inbox and
waits for its reply without a timeout. None of it is public API, so
:func:`flush_and_wait` checks for each piece and answers ``False`` (not known)
when they are missing, and callers fall back to a conservative delay.

The barrier is posted from the calling thread and waited on with a timeout, so it
also works where no thread may be started: since Python 3.12, ``atexit`` handlers
(and the OpenTelemetry SDK's exit hook) cannot start one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)

# A flush that finds all of the client's delivery workers busy leaves its events in
# the buffer for the next one; after a first barrier those workers are idle, so a
# second flush and barrier send what the first left behind.
_ROUNDS = 2

Barrier = Callable[[float], bool]
"""Waits (at most the given seconds) until the client's earlier messages were served."""


def client_closed(ld_client: Any) -> bool:
    """Whether ``ld_client``'s event processor was stopped (its ``close()`` ran).

    A client re-initialized by ``postfork()`` has a new processor, so it counts as open.
    """
    processor = getattr(ld_client, "_event_processor", None)
    return getattr(processor, "_closed", False) is True


def can_wait(ld_client: Any) -> bool:
    """Whether :func:`flush_and_wait` can know that ``ld_client``'s events were sent."""
    return _barrier_for(getattr(ld_client, "_event_processor", None)) is not None


def flush_and_wait(ld_client: Any, timeout_s: float) -> bool:
    """Flushes ``ld_client``'s events and waits until they were posted.

    Args:
        ld_client: An ``ldclient.LDClient`` (not closed).
        timeout_s: The most this call waits; the delivery goes on after it.

    Returns:
        True when every event queued before the call has been posted (or dropped
        by the client after its retry, which its own log says); False when that is
        not known within ``timeout_s``, or the client cannot tell.
    """
    deadline = time.monotonic() + max(0.0, timeout_s)
    processor = getattr(ld_client, "_event_processor", None)
    # A closed client's processor thread is gone and would never answer the barrier,
    # nor would a forked child's before ``postfork()`` (threads do not survive fork).
    barrier = None if client_closed(ld_client) or _forked_away(ld_client) else _barrier_for(processor)
    for _ in range(_ROUNDS):
        try:
            ld_client.flush()
        except Exception:
            _errors.exception("ldai-otel: flushing the LaunchDarkly client failed")
            return False
        if barrier is None or not barrier(deadline - time.monotonic()):
            return False
    return True


def _forked_away(ld_client: Any) -> bool:
    owner = getattr(ld_client, "_owner_pid", None)  # recent ldclient releases only
    return isinstance(owner, int) and owner != os.getpid()


def _barrier_for(processor: Any) -> Barrier | None:
    """The most direct barrier ``processor`` offers; None when it offers none."""
    inbox = getattr(processor, "_inbox", None)
    message = _message_type()
    if message is not None and isinstance(inbox, queue.Queue):
        return lambda timeout_s: _post_barrier(inbox, message, timeout_s)
    wait_until_inactive = getattr(processor, "_wait_until_inactive", None)
    if callable(wait_until_inactive):
        return lambda timeout_s: _barrier_on_thread(wait_until_inactive, timeout_s)
    return None


def _message_type() -> Any:
    try:
        from ldclient.impl.events.event_processor import EventProcessorMessage
    except Exception:
        return None
    fields = getattr(EventProcessorMessage, "_fields", None)
    return EventProcessorMessage if fields == ("type", "param") else None


def _post_barrier(inbox: Any, message: Any, timeout_s: float) -> bool:
    """Posts the client's own ``test_sync`` barrier and waits for its reply, bounded."""
    reply = threading.Event()
    try:
        inbox.put(message("test_sync", reply), timeout=max(0.001, timeout_s))
    except Exception:  # queue.Full: the client is far behind; not known in time
        return False
    return reply.wait(max(0.0, timeout_s))


def _barrier_on_thread(wait_until_inactive: Callable[[], None], timeout_s: float) -> bool:
    """Runs the client's unbounded barrier on a daemon thread and waits for it, bounded."""
    done = threading.Event()

    def wait() -> None:
        try:
            wait_until_inactive()
            done.set()
        except Exception:
            _errors.exception("ldai-otel: waiting for the LaunchDarkly client's delivery failed")

    try:
        # A daemon thread: a stopped client never answers the barrier.
        threading.Thread(target=wait, name="ldai-otel.delivery", daemon=True).start()
    except RuntimeError:  # at interpreter exit (Python 3.12+) no thread may start
        return False
    return done.wait(max(0.0, timeout_s))
