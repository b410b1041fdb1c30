"""Deferred feedback: thumbs up or down on a run, later, possibly elsewhere.

A run's resumption token (``run.resumption_token``, LaunchDarkly's format) can
be handed to a browser with the answer; when the user clicks, the feedback
endpoint calls :func:`track_feedback` with it. Code still inside the run (or
in a downstream service that resumed it) can use :func:`current_run` instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ldai.tracker import FeedbackKind, LDAIConfigTracker
from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.baggage import TOKEN_BAGGAGE_KEY, active_codec
from ldai_otel.model.run import run_id_for_trace
from ldai_otel.scope import SCOPE_CONTEXT_KEY, RunScope, resumption_token_for

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)


@dataclass(frozen=True)
class RunRef:
    """A run found in the current OTel context."""

    run_id: str
    config_key: str
    resumption_token: str
    """LaunchDarkly's resumption token format, for :func:`track_feedback`."""


def current_run() -> RunRef | None:
    """The run the current OTel context carries, or None.

    Inside ``ai_run`` that is the scope's run; in a downstream service it is
    the run resumed from (verified) baggage.
    """
    scope = otel_context.get_value(SCOPE_CONTEXT_KEY)
    if isinstance(scope, RunScope) and scope.trace_id:
        run_id = run_id_for_trace(scope.trace_id)
        return RunRef(run_id, scope.info.config_key, resumption_token_for(run_id, scope.info))
    value = otel_baggage.get_baggage(TOKEN_BAGGAGE_KEY)
    codec = active_codec()
    if value is None or codec is None:
        return None
    resumed = codec.verify_token(value, trace.get_current_span().get_span_context().trace_id)
    if resumed is None:
        return None
    token = str(value).rpartition(".")[0] if resumed.signed else str(value)
    return RunRef(resumed.run_id, resumed.config_key, token)


def _feedback_kind(kind: str | bool | FeedbackKind) -> FeedbackKind:
    if isinstance(kind, FeedbackKind):
        return kind
    if kind is True or kind == "positive":
        return FeedbackKind.Positive
    if kind is False or kind == "negative":
        return FeedbackKind.Negative
    raise ValueError("feedback kind must be 'positive', 'negative', a bool or ldai FeedbackKind")


def track_feedback(
    ld_client: Any,
    resumption_token: str,
    context: Any,
    kind: str | bool | FeedbackKind,
) -> bool:
    """Tracks user feedback on the run a resumption token names.

    The event (``$ld:ai:feedback:user:positive`` or ``...:negative``) carries
    the run's runId, config key, variation key and version, through
    ``LDAIConfigTracker.from_resumption_token``. Feedback is at most once per
    call; LaunchDarkly does not deduplicate across calls.

    Args:
        ld_client: The ``ldclient.LDClient`` to send with.
        resumption_token: ``run.resumption_token`` (or ``current_run().resumption_token``).
        context: The ``ldclient.Context`` of the user giving feedback.
        kind: ``"positive"``/``"negative"``, True/False, or ``FeedbackKind``.

    Returns:
        True when the event was tracked; False (with a rate-limited warning)
        when the token could not be read.

    Raises:
        ValueError: ``kind`` is none of the accepted values.
    """
    feedback = _feedback_kind(kind)
    if not isinstance(resumption_token, str) or not resumption_token or len(resumption_token) > 1024:
        _warn.warning("ldai-otel: feedback ignored: %s", "resumption token missing or too large")
        return False
    try:
        result = LDAIConfigTracker.from_resumption_token(resumption_token, ld_client, context)
        tracker = result.value
        if not result.is_success() or tracker is None:
            _warn.warning("ldai-otel: feedback ignored: %s", "unreadable resumption token")
            return False
        tracker.track_feedback({"kind": feedback})
        return True
    except Exception as exc:  # forged tokens can make LaunchDarkly's parser raise
        _warn.warning("ldai-otel: feedback ignored: %s", "tracking failed (%s)" % type(exc).__name__)
        return False
