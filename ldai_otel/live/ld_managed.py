"""Work LaunchDarkly's own AI SDK tracks is never counted again by a run around it.

``ManagedModel.run`` and ``ManagedAgent.run`` of ``launchdarkly-server-sdk-ai``
track their own run (a tracker of their own, with its own runId): duration,
tokens, success, and the results of the judges they start. They write no span
that says so, so an ``ai_run`` around one would count its instrumented model
call again, count the judges' calls as the run's, and judge the run a second
time. The processor wraps those two methods once (:func:`install`) so that
they run under an OpenTelemetry context carrying :data:`LD_MANAGED_KEY`
(judge tasks they start copy it): spans started under it join no run
(``LDAISpanProcessor.on_start``). The ``ai_run`` around the call keeps what it
saw of its own; when that is nothing but its root span (the managed call was
all it did), it sends nothing at all (:func:`skip_segment`): the managed path
already counted that generation.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

from opentelemetry import context as otel_context

from ldai_otel.model.segment import Segment

LD_MANAGED_KEY = otel_context.create_key("ldai-otel.ld-managed")
"""In the OpenTelemetry context while LaunchDarkly's SDK runs (and tracks) a managed call."""

_MAX_RUNS = 10_000
"""Most runs remembered as having held a managed call (oldest forgotten first)."""

_lock = threading.Lock()
_managed_runs: OrderedDict[tuple[str, str], None] = OrderedDict()
_installed = False


def _note_run(ctx: Any) -> None:
    from ldai_otel.scope import SCOPE_CONTEXT_KEY

    scope = ctx.get(SCOPE_CONTEXT_KEY)
    binding = getattr(scope, "binding", None)
    if binding is None:
        return
    with _lock:
        _managed_runs[binding.key] = None
        _managed_runs.move_to_end(binding.key)
        while len(_managed_runs) > _MAX_RUNS:
            _managed_runs.popitem(last=False)


def _wrap(cls: Any) -> None:
    original = cls.__dict__.get("run")
    if original is None or getattr(original, "_ldai_otel_managed", False):
        return

    @functools.wraps(original)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = otel_context.get_current()
        try:
            _note_run(ctx)
        except Exception:  # never the app's problem
            pass
        token = otel_context.attach(otel_context.set_value(LD_MANAGED_KEY, True, ctx))
        try:
            return await original(self, *args, **kwargs)
        finally:
            otel_context.detach(token)

    run._ldai_otel_managed = True  # type: ignore[attr-defined]
    cls.run = run


def install() -> None:
    """Wraps ``ManagedModel.run`` and ``ManagedAgent.run`` once per process (missing ones are skipped)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    try:
        from ldai.managed_model import ManagedModel

        _wrap(ManagedModel)
    except ImportError:
        pass
    try:
        from ldai.managed_agent import ManagedAgent

        _wrap(ManagedAgent)
    except ImportError:
        pass


def skip_segment(segment: Segment) -> bool:
    """True for a segment of a run that held a managed call and saw no span of its own worth reading."""
    with _lock:
        if segment.binding.key not in _managed_runs:
            return False
    return not segment.observations and not segment.pending
