"""The fallback LaunchDarkly context of a service: one anonymous ``service`` context per ``service.name``.

When a run's events have no context of their own (a downstream service
resumed the run from baggage without the context in it; ``serve`` reads a
root that recorded none), they are attributed to one anonymous context of
kind ``service`` keyed by the span resource's ``service.name``: never one
context per run, which would fill LaunchDarkly's context list. The
processor (resumed runs) and ``serve`` (trace assembly) share this cache.
"""

from __future__ import annotations

import threading
from typing import Any

UNKNOWN_SERVICE = "unknown_service"
"""The key of a span whose resource names no service (OpenTelemetry's own default name)."""


class ServiceContexts:
    """One anonymous ``service`` context per ``service.name``, built once and kept, bounded.

    Reads take no lock (one dictionary lookup); building a context and storing it does.
    Past :attr:`MAX` services a context is still built for each new one, but no longer kept.
    """

    MAX = 256
    """Most services whose context is kept: service names are few; a flood of them is bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[str, Any] = {}

    def get(self, service: str | None) -> Any:
        """The ``ldclient.Context`` events of ``service`` are attributed to when the run carries none.

        Args:
            service: The span resource's ``service.name``; None or "" is :data:`UNKNOWN_SERVICE`.
        """
        key = service or UNKNOWN_SERVICE
        context = self._contexts.get(key)  # one atomic lookup: the lock is for the writes
        if context is None:
            from ldclient import Context

            context = Context.builder(key).kind("service").anonymous(True).build()
            with self._lock:
                if len(self._contexts) < self.MAX:
                    self._contexts[key] = context
        return context
