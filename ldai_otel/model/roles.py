"""Roles: which metrics a segment owns, decided once for the three sources (docs/design.md, "Roles").

A run seen by several processes must not be counted twice, so each segment has
a role. The role follows from two facts every source has:

* how the run was *entered* where the segment's local root is: by ``ai_run``
  (:data:`~ldai_otel.model.attributes.ENTRY_AI_RUN`), or resumed from baggage,
  signed or plain. The processor knows it when the span starts and writes it on
  that span (``ld.ai_config.entry``), so readers of ended spans (``inspect``,
  ``serve``) read the same fact back;
* whether this source already emitted a segment of the run (a continuation).
  The processor writes that too (``ld.ai_config.entry`` = ``continuation``) on a
  span that entered a later segment of an emitted run, so the cut between
  segments needs no clock.

``serve`` has one more fact: the root's share was already emitted by an
in-process processor (``ld.ai_config.emitter``), so what serve adds is a
resumed share. :func:`decide_role` is the one place these facts become a role:
the processor's run table, serve's trace buffer, ``inspect`` and the graph
node runs all call it (or inherit its result).
"""

from __future__ import annotations

from typing import Any

from ldai_otel.model.attributes import ENTRY_AI_RUN, ENTRY_CONTINUATION, ENTRY_RESUMED, ENTRY_RESUMED_PLAIN

ORIGIN = "origin"
"""The process where ``ai_run`` opened the run: emits every metric."""
RESUMED = "resumed"
"""Resumed from ldai-otel baggage: leaves duration and outcome to the origin."""
RESUMED_PLAIN = "resumed_plain"
"""Resumed from a plain LaunchDarkly token (another SDK wrote it): emits every metric."""
CONTINUATION = "continuation"
"""A later segment of a run whose first segment here already emitted."""

ROLES_WITH_OUTCOME = frozenset({ORIGIN, RESUMED_PLAIN})
"""Roles that emit the run's duration and success/error."""

AI_RUN_SCOPE = "ldai_otel"
"""Instrumentation scope of the ``ai_run`` span: how an ``ai_run`` span without an entry is known."""

_ROLE_OF_ENTRY = {
    ENTRY_AI_RUN: ORIGIN,
    ENTRY_RESUMED: RESUMED,
    ENTRY_RESUMED_PLAIN: RESUMED_PLAIN,
    ENTRY_CONTINUATION: CONTINUATION,
}
_ENTRY_OF_ROLE = {role: entry for entry, role in _ROLE_OF_ENTRY.items()}


def entry_for(role: str) -> str:
    """The ``ld.ai_config.entry`` value the local root of a run entered with ``role`` carries."""
    return _ENTRY_OF_ROLE.get(role, ENTRY_AI_RUN)


def entry_of(value: Any, scope: str) -> str:
    """How a root span entered its run: its ``ld.ai_config.entry``, else ``ai_run`` for the ``ai_run`` scope.

    Returns "" when neither says (a root marked by hand, or written before the entry existed).
    """
    if isinstance(value, str) and value in _ROLE_OF_ENTRY:
        return value
    return ENTRY_AI_RUN if scope == AI_RUN_SCOPE else ""


def decide_role(
    entry: str,
    *,
    emitted_before: bool = False,
    emitted_in_process: bool = False,
    unknown: str = ORIGIN,
) -> str:
    """The role of a segment, from facts every source has.

    The rules, in order:

    1. A run this source already emitted a segment of: ``continuation`` (what
       it observed; never duration or outcome again).
    2. A run whose root's share an in-process processor already emitted
       (``serve`` only): ``resumed`` (the processor owns duration and outcome).
    3. Entered by ``ai_run``: ``origin``; resumed from signed baggage:
       ``resumed``; resumed from a plain LaunchDarkly token: ``resumed_plain``
       (no ldai-otel origin will send duration or outcome); entered after the
       run emitted: ``continuation``.
    4. Entry unknown: ``unknown``. ``serve`` treats a root marked by hand
       (docs/serve.md, "Marking a run") as an origin; ``inspect`` predicting
       processors treats a root that is not an ``ai_run`` span as resumed (a
       processor opens runs only from ``ai_run`` or baggage).

    Args:
        entry: How the segment's local root entered the run (:func:`entry_of`), "" if unknown.
        emitted_before: This source already emitted a segment of the run.
        emitted_in_process: The root's share was emitted by a processor (``ld.ai_config.emitter``).
        unknown: The role for an unknown entry.
    """
    if emitted_before:
        return CONTINUATION
    if emitted_in_process:
        return RESUMED
    return _ROLE_OF_ENTRY.get(entry, unknown)
