"""Attribute values as facts: the one validation rule, and bounded JSON.

Junk in, None out, never an exception: a value of the wrong type or size is
ignored with a rate-limited warning naming the attribute, and only that fact is
lost (docs/rules.md, "Bad values").
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_bad_input = RateLimitedLogger(_logger)

MAX_JSON_CHARS = 1 << 20
"""JSON attributes (output messages, tool calls) longer than this are not parsed."""
MAX_JSON_DEPTH = 32
"""JSON attributes nested deeper than this are not parsed (real ones nest 4 or 5 deep)."""


# --- Validation helpers: junk in, None out, never an exception. -----------
# The one rule for every numeric fact (docs/rules.md, "Bad values"): a count is an
# int (not a bool) in [0, MAX_COUNT] or an integral finite float in that
# range; a time is a finite non-negative number that, in milliseconds, is at
# most MAX_TIME_MS. Anything else is ignored with a rate-limited warning that
# names the attribute, and only that fact is lost.

MAX_COUNT = 2**63 - 1
"""Largest count read: OpenTelemetry attributes are int64, a larger one is junk."""
MAX_TIME_MS = 86_400_000.0
"""Longest time read (one day, in ms): a longer time to first token or duration is junk."""
MAX_NAME_CHARS = 1024
"""Longest model, provider or tool name read: a longer one is no name."""


def count_problem(value: Any) -> str | None:
    """Why ``value`` is not a count under the rule above ("negative value"), or None when it is one.

    The rule itself, without a warning: ``ldai-otel inspect`` reports the attributes it finds.
    """
    # bool is an int subclass; True tokens is junk, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "expected a number, got " + type(value).__name__
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return "not a whole finite number"
    if value < 0:
        return "negative value"
    if value > MAX_COUNT:
        return "beyond the int64 range"
    return None


def valid_count(value: Any, key: str) -> int | None:
    """``value`` as a count under the rule above, or None (with a warning naming ``key``)."""
    problem = count_problem(value)
    if problem is not None:
        _bad_input.warning("ldai-otel: ignoring attribute %s: %s", key, problem)
        return None
    return int(value)


def valid_ms(value: Any, key: str, scale: float = 1.0) -> float | None:
    """``value * scale`` as a time in ms under the rule above, or None (with a warning).

    Args:
        value: The attribute's value.
        key: The attribute named in the warning.
        scale: Milliseconds per unit of ``value`` (1000.0 for seconds).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a number, got %s", key, type(value).__name__)
        return None
    try:
        ms = float(value) * scale
    except OverflowError:  # an int beyond the float range
        ms = math.inf
    if not math.isfinite(ms) or ms < 0:
        _bad_input.warning("ldai-otel: ignoring attribute %s: not a finite non-negative number", key)
        return None
    if ms > MAX_TIME_MS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: longer than a day", key)
        return None
    return ms


def count(attrs: Mapping[str, Any], key: str) -> int | None:
    """A token count from ``attrs[key]`` (see :func:`valid_count`), or None."""
    value = attrs.get(key)
    return None if value is None else valid_count(value, key)


def seconds_as_ms(attrs: Mapping[str, Any], key: str) -> float | None:
    """A time in seconds from ``attrs[key]``, converted to milliseconds (see :func:`valid_ms`)."""
    value = attrs.get(key)
    return None if value is None else valid_ms(value, key, 1000.0)


def milliseconds(attrs: Mapping[str, Any], key: str) -> float | None:
    """A time in milliseconds from ``attrs[key]`` (see :func:`valid_ms`), or None."""
    value = attrs.get(key)
    return None if value is None else valid_ms(value, key)


def text(attrs: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string from ``attrs[key]``, or None."""
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _bad_input.warning("ldai-otel: ignoring attribute %s: expected a string, got %s", key, type(value).__name__)
        return None
    if len(value) > MAX_NAME_CHARS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: longer than %d characters", key, MAX_NAME_CHARS)
        return None
    return value or None


UNKNOWN_TOOL = "unknown"
"""The tool key of an executed tool span that names no usable tool."""


def tool_key(attrs: Mapping[str, Any], keys: tuple[str, ...], span_name: Any) -> str:
    """The tool key of an executed tool span; never None, since the call happened.

    Rule: the first of ``keys`` (then the span's name) that holds a non-empty
    string names the tool, cut to ``MAX_NAME_CHARS`` when longer; a span with no
    such value is the tool ``unknown``. Values of another type are skipped with
    a rate-limited warning, as every attribute is.
    """
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            _bad_input.warning("ldai-otel: ignoring attribute %s: expected a string, got %s", key, type(value).__name__)
            continue
        if value:
            return value[:MAX_NAME_CHARS]
    if isinstance(span_name, str) and span_name:
        return span_name[:MAX_NAME_CHARS]
    return UNKNOWN_TOOL


def first_count(attrs: Mapping[str, Any], *keys: str) -> int | None:
    """The first key among ``keys`` that holds a valid count."""
    for key in keys:
        value = count(attrs, key)
        if value is not None:
            return value
    return None


def first_text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    """The first key among ``keys`` that holds a non-empty string."""
    for key in keys:
        value = text(attrs, key)
        if value is not None:
            return value
    return None


def first_seconds_as_ms(attrs: Mapping[str, Any], *keys: str) -> float | None:
    """The first key among ``keys`` that holds a valid duration in seconds, in ms."""
    for key in keys:
        value = seconds_as_ms(attrs, key)
        if value is not None:
            return value
    return None


def first_milliseconds(attrs: Mapping[str, Any], *keys: str) -> float | None:
    """The first key among ``keys`` that holds a valid time in milliseconds."""
    for key in keys:
        value = milliseconds(attrs, key)
        if value is not None:
            return value
    return None


# A JSON string literal, escapes included (unrolled: linear, no backtracking).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS_ONLY = str.maketrans({c: None for c in map(chr, range(128)) if c not in "[]{}"})


def json_depth(raw: str) -> int:
    """The deepest nesting of ``[]`` / ``{}`` in ``raw``, brackets inside strings not counted.

    A cheap pre-scan (two C-speed passes and a loop over the brackets alone)
    so that :func:`bounded_json` never hands the parser a document that would
    exhaust the recursion limit.
    """
    brackets = _JSON_STRING.sub("", raw).translate(_BRACKETS_ONLY)
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def bounded_json(raw: str, key: str) -> Any:
    """``raw`` parsed as JSON when it is at most :data:`MAX_JSON_CHARS` long and
    :data:`MAX_JSON_DEPTH` deep; None (with a rate-limited warning) otherwise."""
    if len(raw) > MAX_JSON_CHARS:
        _bad_input.warning("ldai-otel: ignoring attribute %s: JSON longer than %d characters", key, MAX_JSON_CHARS)
        return None
    if json_depth(raw) > MAX_JSON_DEPTH:
        _bad_input.warning("ldai-otel: ignoring attribute %s: JSON nested deeper than %d", key, MAX_JSON_DEPTH)
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: belt and braces after the pre-scan
        _bad_input.warning("ldai-otel: ignoring attribute %s: not valid JSON", key)
        return None
