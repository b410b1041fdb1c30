"""Baggage entries made when first written out, and when that is safe.

The W3C baggage propagator writes each baggage value as ``str(value)`` when a
request leaves the process. ``ai_run`` puts its run's entries in baggage as
:class:`DeferredEntry` objects, so a run that never calls another service
never encodes nor signs its token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ldai_otel._ratelimit import RateLimitedLogger

if TYPE_CHECKING:
    from ldai_otel.baggage import ResumedRun, RunTokenCodec

_warn = RateLimitedLogger(logging.getLogger("ldai_otel.baggage"))


class DeferredEntry:
    """A baggage value computed when first turned into text (``str``).

    The W3C baggage propagator writes each value as ``str(value)`` when a
    request leaves the process; most runs never make one, so their entries
    are never computed. Computed once and kept; two threads racing on the
    first ``str`` compute the same text twice, which is harmless.
    """

    __slots__ = ("_make", "_args", "_text")

    def __init__(self, make: Callable[..., str | None], *args: Any):
        self._make = make
        self._args = args
        self._text: str | None = None

    def __str__(self) -> str:
        text = self._text
        if text is None:
            try:
                text = self._make(*self._args) or ""
            except Exception:  # str() runs inside the app's outgoing request: never raise there
                _warn.exception("ldai-otel: could not make a %s baggage entry; sending it empty", "run")
                text = ""
            self._text = text
        return text

    def __repr__(self) -> str:
        return "<%s>" % type(self).__name__  # never the entry itself: it may be logged


class RunTokenEntry(DeferredEntry):
    """The ``ld.ai_config.token`` value ``ai_run`` puts in baggage: signed when first serialized.

    In this process the run is read from it directly (:meth:`resumed`); the
    signed text exists only once a request carries it out.
    """

    __slots__ = ("codec", "_run", "_resumed")

    def __init__(self, codec: RunTokenCodec, run: Callable[[], ResumedRun], token: Callable[[], str]):
        super().__init__(_sign_token, codec, token)
        self.codec = codec
        self._run = run
        self._resumed: ResumedRun | None = None

    def resumed(self) -> ResumedRun:
        """The run this entry names."""
        resumed = self._resumed
        if resumed is None:
            resumed = self._resumed = self._run()
        return resumed


def _sign_token(codec: RunTokenCodec, token: Callable[[], str]) -> str:
    return codec.sign_token(token())


# The propagators known to write a baggage value as str(value). Another one
# (the OT trace propagator matches each value against a regex, and raises on
# anything but text) gets the entries as text, signed at once.
_DEFERRING_PROPAGATORS = ("TraceContextTextMapPropagator", "W3CBaggagePropagator")
_propagators_checked: tuple[object, bool] = (None, False)


def propagators_defer() -> bool:
    """Whether every configured propagator writes baggage values with ``str()``.

    Checked once per global propagator object; anything unknown says no.
    """
    global _propagators_checked
    from opentelemetry import propagate

    textmap = propagate.get_global_textmap()
    checked_for, defer = _propagators_checked
    if checked_for is textmap:
        return defer
    members = getattr(textmap, "_propagators", None)  # a CompositePropagator's members
    if not isinstance(members, list | tuple):
        members = [textmap]
    defer = all(
        type(m).__name__ in _DEFERRING_PROPAGATORS and type(m).__module__.startswith("opentelemetry.") for m in members
    )
    _propagators_checked = (textmap, defer)
    return defer
