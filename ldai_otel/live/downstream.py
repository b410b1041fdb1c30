"""Resuming a run downstream: the run a span resumes from baggage, and the context its events carry.

A service reached by a request from ``ai_run``'s service finds the run's token
in W3C baggage (:mod:`ldai_otel.baggage`). The processor's ``on_start`` hands
such a span here, off its hot path (a span without a run token never gets
here): the token is verified, and the resumed run is attributed to a
LaunchDarkly context, in this order: the app's ``context_provider``, the
context entry upstream put in baggage (signed; with ``propagate_context`` or
``trust_unsigned_tokens``), the app's ``fallback_context``, else the
service's own anonymous context (:class:`~ldai_otel.model.contexts.ServiceContexts`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.baggage import CONTEXT_BAGGAGE_KEY, RunTokenCodec, derive_signing_key
from ldai_otel.model.attributes import SERVICE_NAME
from ldai_otel.model.contexts import ServiceContexts
from ldai_otel.model.run import RESUMED, RESUMED_PLAIN, Binding, RunInfo

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)


def find_baggage_context_key() -> str | None:
    """The OTel context key baggage lives under, found through the public API.

    ``opentelemetry.baggage`` keeps all entries in one dict under one context
    key; reading that dict directly saves building a mapping proxy on every
    span. None when the layout is not the expected one (then the public
    ``get_all`` is used).
    """
    try:
        probe = otel_baggage.set_baggage("ldai-otel.probe", "1", Context())
        keys = list(probe)
        entries = probe[keys[0]] if len(keys) == 1 else None
        if isinstance(entries, dict) and entries == {"ldai-otel.probe": "1"}:
            return keys[0]
    except Exception:
        _logger.debug("ldai-otel: baggage layout probe failed; using get_all", exc_info=True)
    return None


BAGGAGE_CONTEXT_KEY = find_baggage_context_key()
"""Where baggage lives in an OTel context (None: read it through ``get_all``); the processor's
``on_start`` looks for a run token there without building a mapping for each span."""


def make_codec(
    ld_client: Any,
    signing_key: str | bytes | None,
    trust_unsigned_tokens: bool,
    propagate: bool,
    propagate_context: bool,
) -> RunTokenCodec:
    """The processor's run-token codec; its key by default derived from the client's SDK key."""
    if signing_key is None:
        key = derive_signing_key(ld_client.get_sdk_key() or "")
    else:
        key = signing_key.encode("utf-8") if isinstance(signing_key, str) else bytes(signing_key)
    return RunTokenCodec(
        key,
        trust_unsigned_tokens=trust_unsigned_tokens,
        propagate=propagate,
        propagate_context=propagate_context,
    )


class Downstream:
    """Resumes runs from baggage for one processor.

    Args:
        codec: The processor's run-token codec (its key and trust settings).
        context_provider: ``fn(parent_context) -> ldclient.Context | None``, or None.
        fallback_context: The context when neither the provider nor baggage gives one, or None.
    """

    def __init__(
        self,
        codec: RunTokenCodec,
        context_provider: Callable[[Context | None], Any] | None,
        fallback_context: Any,
    ) -> None:
        self._codec = codec
        self._context_provider = context_provider
        self._fallback_context = fallback_context
        self._service_contexts = ServiceContexts()

    def resume(self, span: Span, value: Any, parent_context: Context | None) -> Binding | None:
        """The run ``span`` resumes from the baggage token ``value``; None when not honoured.

        A signed token resumes the run as ``resumed``; a plain LaunchDarkly token,
        honoured only with ``trust_unsigned_tokens``, as ``resumed-plain``.
        """
        resumed = self._codec.verify_token(value, span.context.trace_id)
        if resumed is None:
            return None
        info = RunInfo(
            config_key=resumed.config_key,
            variation_key=resumed.variation_key,
            version=resumed.version,
            context=self.context(span, resumed.run_id, parent_context),
            graph_key=resumed.graph_key,
        )
        return Binding.create(resumed.run_id, info, RESUMED if resumed.signed else RESUMED_PLAIN)

    def context(self, span: Span, run_id: str, parent_context: Context | None) -> Any:
        """The LaunchDarkly context the resumed run's events are attributed to (see the module docstring)."""
        if self._context_provider is not None:
            try:
                context = self._context_provider(parent_context)
            except Exception:
                _errors.exception("ldai-otel: context_provider failed; using the fallback context")
                context = None
            if context is not None:
                return context
        codec = self._codec
        if codec.propagate_context or codec.trust_unsigned_tokens:
            entry = otel_baggage.get_baggage(CONTEXT_BAGGAGE_KEY, parent_context)
            if entry is not None:
                context = codec.verify_context(entry, run_id)
                if context is not None:
                    return context
        if self._fallback_context is not None:
            return self._fallback_context
        resource = getattr(span, "resource", None)
        service = resource.attributes.get(SERVICE_NAME) if resource is not None else None
        return self._service_contexts.get(service if isinstance(service, str) else None)
