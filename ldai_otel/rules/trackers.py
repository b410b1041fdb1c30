"""The run's own ``LDAIConfigTracker``: every event of a run goes through one built here.

LaunchDarkly's tracker carries the run's identity on each event (runId,
config key, variation, version, graph key) and keeps its at-most-once guards per
tracker; a run's segments, its judges' results and its mapped evaluation events
each get a tracker made the same way, so their events agree on that identity.

The rule book's emission (:mod:`ldai_otel.rules.emission`) and the graph rules
(:mod:`ldai_otel.rules.graphs`) also share here which segments own a run's
duration and outcome (:func:`owns_outcome`) and how one metric is sent (:func:`send`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ldai.tracker import LDAIConfigTracker

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.run import ROLES_WITH_OUTCOME, RunInfo
from ldai_otel.model.segment import Segment

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)


def run_tracker(
    ld_client: Any,
    run_id: str,
    info: RunInfo,
    model_name: str | None = None,
    provider_name: str | None = None,
) -> LDAIConfigTracker:
    """A tracker for one run, with the run's runId and the AI Config's identity.

    Args:
        ld_client: The ``ldclient.LDClient`` the events go through.
        run_id: The run's runId (the trace id as UUID text).
        info: The run's AI Config facts.
        model_name: The model name on the events; the config's when not given.
        provider_name: The provider name on the events; the config's when not given.
    """
    return LDAIConfigTracker(
        ld_client=ld_client,
        run_id=run_id,
        config_key=info.config_key,
        variation_key=info.variation_key,
        version=info.version,
        context=info.context,
        model_name=info.model_name if model_name is None else model_name,
        provider_name=info.provider_name if provider_name is None else provider_name,
        graph_key=info.graph_key,
    )


def owns_outcome(segment: Segment) -> bool:
    """Whether ``segment`` sends its run's duration and outcome (success or error).

    Rule: the segment that opened the run (``origin``), and one resumed from a
    plain LaunchDarkly token (``resumed-plain``: its service is where the run
    is measured), unless the run's outcome was deferred to another segment.
    Resumed and continuation segments send tokens, time to first token and
    tool calls only (docs/design.md, "Roles").
    """
    return segment.role in ROLES_WITH_OUTCOME and not segment.outcome_deferred


def send(what: str, track: Callable[..., None], *args: Any, run: str = "run") -> None:
    """Sends one metric through a tracker method; a failure is logged and the other metrics still go.

    Args:
        what: The metric, for the log line ("duration", "tokens").
        track: The tracker's method.
        *args: Its arguments.
        run: What the metric is of, for the log line ("run", "graph run").
    """
    try:
        track(*args)
    except Exception:
        _errors.exception("ldai-otel: sending %s of a %s failed; its other metrics are sent", what, run)
