"""Run identity and roles: who a run is, and what part of it a segment plays.

A *run* is one execution of one AI Config, identified by (runId, config key);
the runId is the trace id written as UUID text. See docs/design.md, "The run model".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model import attributes as A
from ldai_otel.model.roles import (  # re-exported: the roles' long-standing home
    CONTINUATION,
    ORIGIN,
    RESUMED,
    RESUMED_PLAIN,
    ROLES_WITH_OUTCOME,
    entry_for,
)

if TYPE_CHECKING:
    from ldai_otel.evaluations.judges import RunEvaluation
    from ldai_otel.model.graph_spec import GraphSpec

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)


def run_id_for_trace(trace_id: int) -> str:
    """The runId carried by a trace id: the 128-bit id written as UUID text.

    Same text as ``str(uuid.UUID(int=trace_id))``, at a quarter of the cost:
    it runs once per run on the app's thread.
    """
    h = "%032x" % trace_id
    return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]


@dataclass(slots=True)
class RunInfo:
    """What is known of a run's AI Config, whichever process sees it.

    Not changed once made (one is made per run on the app's thread; a frozen
    dataclass would cost twice as much to build).
    """

    config_key: str
    variation_key: str
    version: int
    context: Any
    """The ``ldclient.Context`` events are attributed to."""
    model_name: str = ""
    provider_name: str = ""
    graph_key: str | None = None
    graph: GraphSpec | None = None
    """For a run of an agent graph (``ai_run(graph, ...)``): its nodes and edges."""
    evaluation: RunEvaluation | None = None
    """For a run whose config has judges: their state (the one mutable part, with its own lock)."""


class Binding:
    """A run as seen by this process: identity, config and role.

    Immutable by convention; a plain slotted class because one is made per
    run on the app's thread, where a frozen dataclass costs several times more.
    """

    __slots__ = ("run_id", "info", "role", "key", "span_attributes")

    def __init__(self, run_id: str, info: RunInfo, role: str, span_attributes: dict[str, Any] | None = None):
        self.run_id = run_id
        self.info = info
        self.role = role
        """How the run was entered here (``origin``, ``resumed``, ``resumed_plain``); a segment may differ."""
        self.key: tuple[str, str] = (run_id, info.config_key)
        """The run's identity in this process: (runId, config key)."""
        self.span_attributes: dict[str, Any] = span_attributes if span_attributes is not None else {}
        """The ``ld.ai_config.*`` attributes the processor stamps on the run's spans.

        The run's local root also gets ``ld.ai_config.entry`` (:meth:`root_attributes`)."""

    def __repr__(self) -> str:
        return "Binding(run_id=%r, config_key=%r, role=%r)" % (self.run_id, self.info.config_key, self.role)

    @classmethod
    def create(cls, run_id: str, info: RunInfo, role: str) -> Binding:
        """The binding of a run, with the attributes the processor stamps on its spans."""
        attrs = identity_attributes(run_id, info)
        # This process emits the run: `ldai-otel serve` must not count it again.
        attrs[A.LD_AI_CONFIG_EMITTER] = A.LD_AI_CONFIG_EMITTER_VALUE
        return cls(run_id, info, role, attrs)

    def root_attributes(self, role: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """What the processor stamps on a local root that entered the run as ``role``: the span
        attributes but ``skip``, and how it entered (``ld.ai_config.entry``), from which readers of
        ended spans rebuild the segment's role (``model.roles``). Member spans never carry the entry.
        """
        attrs = {k: v for k, v in self.span_attributes.items() if k not in skip}
        attrs[A.LD_AI_CONFIG_ENTRY] = entry_for(role)
        return attrs


IDENTITY_KEYS = frozenset(
    {A.LD_AI_CONFIG_KEY, A.LD_AI_CONFIG_VARIATION_KEY, A.LD_AI_CONFIG_VERSION, A.LD_AI_CONFIG_RUN_ID}
)
"""The run identity ``ai_run`` writes on its own span, processor or not."""


def identity_attributes(run_id: str, info: RunInfo) -> dict[str, Any]:
    """The run's identity as span attributes (:data:`IDENTITY_KEYS`; no variation key when it has none)."""
    attrs: dict[str, Any] = {
        A.LD_AI_CONFIG_KEY: info.config_key,
        A.LD_AI_CONFIG_VERSION: info.version,
        A.LD_AI_CONFIG_RUN_ID: run_id,
    }
    if info.variation_key:
        attrs[A.LD_AI_CONFIG_VARIATION_KEY] = info.variation_key
    return attrs


__all__ = [
    "CONTINUATION",
    "IDENTITY_KEYS",
    "ORIGIN",
    "RESUMED",
    "RESUMED_PLAIN",
    "ROLES_WITH_OUTCOME",
    "Binding",
    "RunInfo",
    "identity_attributes",
    "run_id_for_trace",
]
