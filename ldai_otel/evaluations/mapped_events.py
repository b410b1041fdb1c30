"""Evaluation results already in the telemetry, as judge-style LaunchDarkly events.

The GenAI semantic conventions' evaluation event, ``gen_ai.evaluation.result``
(``gen_ai.evaluation.name``, ``gen_ai.evaluation.score.value``,
``gen_ai.evaluation.score.label``), written as a span event on the evaluated
span of a run, becomes one event on the run when the app maps its evaluation
name to a LaunchDarkly metric key: the event ``track_judge_result`` sends,
with the score as metric value. Unmapped names are ignored; evaluations on
spans written by LaunchDarkly's own SDKs are theirs (they track them) and
are skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model import attributes as A
from ldai_otel.model.run import RunInfo
from ldai_otel.model.segment import Segment
from ldai_otel.rules.trackers import run_tracker

_logger = logging.getLogger(__name__)
_bad_input = RateLimitedLogger(_logger)

EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
_LAUNCHDARKLY_SCOPE_PREFIXES = ("@launchdarkly/", "launchdarkly")
_MAX_EVENTS_PER_SPAN = 128


@dataclass(frozen=True)
class MappedEvaluation:
    """One evaluation event found on a run span, and the metric key it maps to."""

    name: str
    metric_key: str
    score: float
    label: str | None


def evaluations_in(spans: Iterable[Any], metrics: Mapping[str, str]) -> list[MappedEvaluation]:
    """The mapped evaluation events on ``spans`` (ended ``ReadableSpan`` objects)."""
    found: list[MappedEvaluation] = []
    for span in spans:
        events = getattr(span, "events", None)
        if not events or _written_by_launchdarkly(span):
            continue
        for event in events[:_MAX_EVENTS_PER_SPAN]:
            if event.name != EVALUATION_EVENT:
                continue
            mapped = _mapped(event.attributes or {}, metrics)
            if mapped is not None:
                found.append(mapped)
    return found


def _written_by_launchdarkly(span: Any) -> bool:
    scope = getattr(span, "instrumentation_scope", None)
    name = getattr(scope, "name", "") if scope is not None else ""
    if isinstance(name, str) and name.startswith(_LAUNCHDARKLY_SCOPE_PREFIXES):
        return True
    attrs = span.attributes or {}
    return A.LAUNCHDARKLY_RUN_ID in attrs


def _mapped(attrs: Mapping[str, Any], metrics: Mapping[str, str]) -> MappedEvaluation | None:
    name = attrs.get(EVALUATION_NAME)
    if not isinstance(name, str) or name not in metrics:
        return None  # unmapped: the app did not ask for it
    score = attrs.get(EVALUATION_SCORE_VALUE)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        _bad_input.warning("ldai-otel: ignoring evaluation %s: %s is not a finite number", name, EVALUATION_SCORE_VALUE)
        return None
    label = attrs.get(EVALUATION_SCORE_LABEL)
    return MappedEvaluation(name, metrics[name], float(score), label if isinstance(label, str) else None)


OBSERVATION_KEY = "ldai.evaluations"
"""Where ``serve``'s span decoder keeps a span's mapped evaluations (``Observation.extra``)."""


def parse_metric_map(specs: Iterable[str]) -> dict[str, str]:
    """``NAME=METRIC_KEY`` items (a command line's) as a mapping.

    Raises:
        ValueError: An item without ``=``, or with an empty side.
    """
    mapping: dict[str, str] = {}
    for spec in specs:
        name, sep, key = spec.partition("=")
        if not sep or not name.strip() or not key.strip():
            raise ValueError("--evaluation-metric wants NAME=METRIC_KEY, got %r" % spec)
        mapping[name.strip()] = key.strip()
    return mapping


class EvaluationEvents:
    """Tracks the mapped evaluation events of each closed segment on its run.

    Args:
        ld_client: The ``ldclient.LDClient`` the events go through.
        metrics: Evaluation name -> LaunchDarkly metric key.
    """

    def __init__(self, ld_client: Any, metrics: Mapping[str, str]):
        self._ld_client = ld_client
        self._metrics = {str(k): str(v) for k, v in metrics.items()}

    @property
    def metrics(self) -> dict[str, str]:
        """Evaluation name -> metric key."""
        return dict(self._metrics)

    def on_segment_closed(self, run_id: str, info: RunInfo, spans: Iterable[Any]) -> int:
        """Tracks the evaluations found on ``spans``; returns how many."""
        return self.track(run_id, info, evaluations_in(spans, self._metrics))

    def on_observed_segment(self, segment: Segment) -> None:
        """Tracks the evaluations the span decoder kept on a segment's observations (``serve``)."""
        if segment.binding.info.graph is not None:
            return
        found: list[MappedEvaluation] = []
        for observation in segment.observations:
            kept = observation.extra.get(OBSERVATION_KEY)
            if kept:
                found.extend(kept)
        self.track(segment.binding.run_id, segment.binding.info, found)

    def track(self, run_id: str, info: RunInfo, found: list[MappedEvaluation]) -> int:
        """Tracks ``found`` on the run as ``track_judge_result`` events; returns how many."""
        if not found:
            return 0
        from ldai.providers.types import JudgeResult

        tracker = run_tracker(self._ld_client, run_id, info)
        for evaluation in found:
            result = JudgeResult(sampled=True, success=True, metric_key=evaluation.metric_key, score=evaluation.score)
            tracker.track_judge_result(result)
        return len(found)
