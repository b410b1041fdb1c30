"""An AI Config's identity facts, and the resumption token that carries them.

``ai_run`` reads a run's facts (config key, variation key, version, graph key, model and
provider names) from the evaluated config with :func:`run_info_from_config`; the processor and
``feedback`` write them back into LaunchDarkly's resumption token format with
:func:`resumption_token_for`. Both run on the app thread at every run's start or end, so each
keeps a small bounded cache of what repeats from run to run (a service has few configs).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ldai_otel.model.run import RunInfo


def _tracker_token(tracker: Any) -> str:
    """The resumption token of a new tracker, without encoding it again.

    ``LDAIConfigTracker`` computes its token once, when it is made, and keeps
    it on its summary; the ``resumption_token`` property re-encodes it.
    """
    try:
        token = tracker.get_summary().resumption_token
    except Exception:  # another tracker type: the documented property
        token = None
    return token if isinstance(token, str) and token else tracker.resumption_token


# A new tracker's token is base64 of '{"runId": "<36 characters>", ...}': its
# first 64 characters encode exactly the runId's 48 bytes, and the rest only
# the config's facts, which repeat from run to run. Decoded facts are kept by
# that rest, once a decoded token has shown that layout; otherwise decoded
# every time.
_RUN_ID_PREFIX = b'{"runId": "'
_RUN_ID_CHARS = 64
_token_facts_cache: dict[str, dict[str, Any]] = {}
_MAX_TOKEN_FACTS = 256


def _token_facts(token: str) -> dict[str, Any]:
    """The decoded JSON of a resumption token (its runId may be stale: unused)."""
    rest = token[_RUN_ID_CHARS:]
    facts = _token_facts_cache.get(rest)
    if facts is not None:
        return facts
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    facts = json.loads(raw)
    if raw.startswith(_RUN_ID_PREFIX) and raw[47:48] == b'"' and raw[48:50] == b", " and isinstance(facts, dict):
        if len(_token_facts_cache) >= _MAX_TOKEN_FACTS:  # bounded; dict ops are atomic under the GIL
            _token_facts_cache.clear()
        _token_facts_cache[rest] = facts
    return facts


# ``ldai`` configs carry their facts only inside their tracker factory, a
# closure over (key, variation_key, version, graph_key, ...). Minting a
# tracker to read them (a UUIDv4, the tracker, its encoded token) was the
# largest part of ai_run's own cost, so the closure's cells are read when the
# factory has exactly that shape (checked once per code object); any other
# factory, or values of another type, take the public path.
_FACT_NAMES = ("key", "variation_key", "version", "graph_key")
_fact_cells: dict[Any, tuple[int, ...] | None] = {}
_MAX_FACT_CODES = 64


def _factory_facts(config: Any) -> tuple[str, str, int, str | None] | None:
    """``(config key, variation key, version, graph key)`` read from the tracker factory's closure, or None."""
    factory = getattr(config, "create_tracker", None)
    code = getattr(factory, "__code__", None)
    if code is None:
        return None
    cells = _fact_cells.get(code, ())
    if cells == ():
        names = code.co_freevars
        cells = tuple(names.index(n) for n in _FACT_NAMES) if all(n in names for n in _FACT_NAMES) else None
        if len(_fact_cells) < _MAX_FACT_CODES:  # bounded; dict ops are atomic under the GIL
            _fact_cells[code] = cells
    if cells is None:
        return None
    try:
        closure = factory.__closure__  # type: ignore[union-attr]
        k, v, n, g = cells
        key, variation_key = closure[k].cell_contents, closure[v].cell_contents
        version, graph_key = closure[n].cell_contents, closure[g].cell_contents
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if (
        type(key) is str
        and type(variation_key) is str
        and type(version) is int
        and (graph_key is None or type(graph_key) is str)
    ):
        return key, variation_key, version, graph_key or None
    return None


def run_info_from_config(config: Any, context: Any) -> RunInfo:
    """Reads a run's AI Config facts.

    Variation key, version and graph key come from the config's tracker
    factory (see ``_factory_facts``), else from the resumption token of a
    tracker made by ``config.create_tracker()`` (a documented format); model
    and provider names from ``config.model`` and ``config.provider``.
    """
    model = getattr(config, "model", None)
    provider = getattr(config, "provider", None)
    model_name = (getattr(model, "name", "") or "") if model is not None else ""
    provider_name = (getattr(provider, "name", "") or "") if provider is not None else ""
    facts = _factory_facts(config)
    if facts is not None:
        return RunInfo(facts[0], facts[1], facts[2], context, model_name, provider_name, facts[3])
    payload = _token_facts(_tracker_token(config.create_tracker()))
    return RunInfo(
        config_key=str(payload.get("configKey") or config.key),
        variation_key=str(payload.get("variationKey") or ""),
        version=int(payload.get("version") or 0),
        context=context,
        model_name=model_name,
        provider_name=provider_name,
        graph_key=payload.get("graphKey") or None,
    )


# The JSON after the runId depends only on the config's identity, which a
# service has few of: encoded once per (key, variation, version, graph).
_token_tails: dict[tuple[str, str, int, str | None], str] = {}
_MAX_TOKEN_TAILS = 256


def resumption_token_for(run_id: str, info: RunInfo) -> str:
    """LaunchDarkly's resumption token format, carrying ``run_id``.

    Same fields and encoding as ``LDAIConfigTracker.resumption_token``, so
    ``LDAIClient.create_tracker(token, context)`` reads it.
    """
    tail_key = (info.config_key, info.variation_key, info.version, info.graph_key)
    tail = _token_tails.get(tail_key)
    if tail is None:
        data: dict[str, Any] = {"configKey": info.config_key}
        if info.variation_key:
            data["variationKey"] = info.variation_key
        data["version"] = info.version
        if info.graph_key:
            data["graphKey"] = info.graph_key
        tail = json.dumps(data, separators=(",", ":"))[1:]
        if len(_token_tails) >= _MAX_TOKEN_TAILS:  # bounded; dict ops are atomic under the GIL
            _token_tails.clear()
        _token_tails[tail_key] = tail
    raw = ('{"runId":' + json.dumps(run_id) + "," + tail).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
