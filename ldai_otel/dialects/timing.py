"""Time facts on a model call's span: time to first token and a stream's reported length.

The built-in extractor (``dialects.reader``) reads them through these functions. A first-chunk
time comes from an attribute (seconds or milliseconds, per dialect) when one is written; only
otherwise are the span's events scanned, and no further than :data:`MAX_EVENTS_SCANNED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from ldai_otel.model import attributes as A
from ldai_otel.model.values import first_milliseconds, first_seconds_as_ms, seconds_as_ms, valid_ms

MAX_EVENTS_SCANNED = 256
"""Span events looked at for a first-chunk event; they come first when present."""

_FIRST_CHUNK_EVENTS = frozenset(
    {
        A.FIRST_TOKEN_STREAM_EVENT,
        A.GEN_AI_CONTENT_COMPLETION_CHUNK_EVENT,
        A.LLM_CONTENT_COMPLETION_CHUNK_EVENT,
    }
)


def time_to_first_token_ms(span: ReadableSpan, attrs: Mapping[str, Any]) -> float | None:
    """From an attribute (seconds or ms, per dialect), else a first-chunk event."""
    ms = first_seconds_as_ms(
        attrs,
        A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        A.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    )
    if ms is not None:
        return ms
    ms = first_milliseconds(
        attrs, A.AI_RESPONSE_MS_TO_FIRST_CHUNK, A.AI_STREAM_MS_TO_FIRST_CHUNK, A.GEN_AI_SERVER_TIME_TO_FIRST_TOKEN
    )
    if ms is not None:
        return ms
    events = span.events
    if not events:
        return None
    start = span.start_time
    if not isinstance(start, int) or isinstance(start, bool):
        return None
    scanned = 0
    for event in events:
        if event.name in _FIRST_CHUNK_EVENTS:
            timestamp = event.timestamp
            if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= start:
                return valid_ms(timestamp - start, event.name, 1e-6)
            return None
        scanned += 1
        if scanned >= MAX_EVENTS_SCANNED:
            break
    return None


def reported_duration_ms(attrs: Mapping[str, Any]) -> float | None:
    """A streamed call's length as logfire reports it on its log span, else None."""
    if attrs.get(A.LOGFIRE_SPAN_TYPE) != A.LOGFIRE_SPAN_TYPE_LOG:
        return None
    # logfire ends a streamed call's span at once and logs the stream's
    # usage and length later on a zero-length span: stretch it back.
    return seconds_as_ms(attrs, A.LOGFIRE_DURATION)
