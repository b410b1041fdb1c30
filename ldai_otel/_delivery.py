"""Knowing when a LaunchDarkly client has handed its queued events to the events endpoint.

``LDClient.flush()`` only schedules a delivery; it returns at once. A script that
closes its client, a serverless handler about to be frozen, and ``serve`` before it
forgets a spooled run all need more: the events that were queued before the call
have been posted (or given up on after the client's own retry).

The client's event processor serves its messages in order on one thread, so a
barrier message posted after a flush is answered only once that flush's payload
has been sent. ``ldclient`` does that with its ``_wait_until_inactive`` (used by
its own tests); it is not public API, so :func:`flush_and_wait` checks for it and
answers ``False`` (not known) when it is missing, and callers fall back to a
conservative delay.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)


def can_wait(ld_client: Any) -> bool:
    """Whether :func:`flush_and_wait` can know that ``ld_client``'s events were sent."""
    processor = getattr(ld_client, "_event_processor", None)
    return callable(getattr(processor, "_wait_until_inactive", None))


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
    try:
        ld_client.flush()
    except Exception:
        _errors.exception("ldai-otel: flushing the LaunchDarkly client failed")
        return False
    processor = getattr(ld_client, "_event_processor", None)
    barrier = getattr(processor, "_wait_until_inactive", None)
    # A closed client's processor thread is gone and would never answer the barrier.
    if not callable(barrier) or getattr(processor, "_closed", False):
        return False
    done = threading.Event()

    def wait() -> None:
        try:
            barrier()
            done.set()
        except Exception:
            _errors.exception("ldai-otel: waiting for the LaunchDarkly client's delivery failed")

    # A daemon thread: the barrier blocks without a timeout of its own, and a stopped
    # client never answers it.
    threading.Thread(target=wait, name="ldai-otel.delivery", daemon=True).start()
    return done.wait(max(0.0, timeout_s))
