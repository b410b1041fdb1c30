"""Runs that cross services: signed LaunchDarkly resumption tokens in W3C baggage.

Security:
    Baggage is untrusted input from the network, and it leaks to every
    outbound call the service makes, model providers included. Hence: the
    token holds no personal data (the LaunchDarkly context stays out unless
    you opt in), it is signed with HMAC-SHA256 under a key derived from the
    LaunchDarkly SDK key (or one you give), unsigned or badly signed entries
    are ignored unless you opt in to plain LaunchDarkly tokens, entries are
    size-capped before any decoding, a signed token is only honoured in the
    trace whose id is its runId, and warnings are rate-limited and never
    print a token or a context key.

``ai_run`` writes the run into baggage; the OTel propagators the service
already uses (``tracecontext,baggage``) carry it on every outbound call; a
downstream :class:`~ldai_otel.LDAISpanProcessor` resumes the run from it.

Baggage entries (W3C baggage, keys under ``ld.ai_config.``):

* ``ld.ai_config.token``: ``<LaunchDarkly resumption token>.<signature>``. The
  token is LaunchDarkly's own format (URL-safe base64 of
  ``{"runId", "configKey", "variationKey", "version"[, "graphKey"]}``), so any
  LaunchDarkly SDK can read the part before the dot. The runId is the trace id.
* ``ld.ai_config.context`` (only with ``propagate_context=True``): the
  LaunchDarkly context's kind and key, URL-safe base64 JSON, signed and bound
  to the runId.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.context import Context

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.live.baggage_entries import DeferredEntry, RunTokenEntry, propagators_defer
from ldai_otel.model.run import run_id_for_trace

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)

TOKEN_BAGGAGE_KEY = "ld.ai_config.token"
"""Baggage key of the signed resumption token."""
CONTEXT_BAGGAGE_KEY = "ld.ai_config.context"
"""Baggage key of the signed LaunchDarkly context kind and key (opt-in)."""

MAX_ENTRY_BYTES = 1024
"""Entries longer than this are ignored before any decoding."""

_SIGNATURE_BYTES = 16  # 128-bit truncated HMAC-SHA256: forging stays infeasible, baggage stays small
_KEY_DERIVATION_LABEL = b"ldai-otel baggage signing key v1"
_CACHE_SIZE = 4096


def derive_signing_key(sdk_key: str) -> bytes:
    """The default signing key: HMAC-SHA256 of a fixed label under the SDK key.

    Every service of one LaunchDarkly environment shares the SDK key, so they
    share this key without configuration; the SDK key itself never leaves.
    """
    return hmac.new(sdk_key.encode("utf-8"), _KEY_DERIVATION_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class ResumedRun:
    """A run read from a resumption token."""

    run_id: str
    config_key: str
    variation_key: str
    version: int
    graph_key: str | None
    signed: bool
    """True for an ldai-otel token; False for a plain LaunchDarkly token."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


class _Invalid(Exception):
    """A baggage entry that is not honoured; the message is the logged reason."""


class RunTokenCodec:
    """Signs and verifies the run entries ldai-otel puts in baggage.

    Security:
        Everything this codec writes into baggage is sent on every outbound
        call of the service, model providers included, and what it reads is
        untrusted input from the network. It signs, it does not encrypt: put
        nothing secret in what it carries (the LaunchDarkly context only with
        ``propagate_context``). A token it honours lets the caller add metrics
        to the run it names: unsigned ones only with ``trust_unsigned_tokens``.

    Args:
        signing_key: HMAC key; see :func:`derive_signing_key`.
        trust_unsigned_tokens: Security: anyone who can reach the service can
            then attribute metrics to any run and config; only enable it behind a
            trusted boundary. Honours plain LaunchDarkly resumption tokens (no
            signature), for services fed by another LaunchDarkly SDK.
        propagate: Whether ``ai_run`` writes the token into baggage.
        propagate_context: Security: the LaunchDarkly context's kind and key
            (often personal data) then travel in baggage, readable by every
            service and provider the calls reach. Whether ``ai_run`` also
            writes them into baggage.
    """

    def __init__(
        self,
        signing_key: bytes,
        *,
        trust_unsigned_tokens: bool = False,
        propagate: bool = True,
        propagate_context: bool = False,
    ):
        self._key = signing_key
        self.trust_unsigned_tokens = trust_unsigned_tokens
        self.propagate = propagate
        self.propagate_context = propagate_context
        # One lock guards the verification cache; hooks run on any thread.
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, ResumedRun | str] = OrderedDict()
        self._signatures = 0
        if hasattr(os, "register_at_fork"):
            # A lock held by another thread at fork() stays held in the child.
            weak_self = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reinit_lock(weak_self))

    @property
    def signatures(self) -> int:
        """How many signatures this codec has computed (verifications included); for tests and reports."""
        return self._signatures

    def _signature(self, payload: str, bound_to: str = "") -> str:
        message = payload.encode("ascii") + b"|" + bound_to.encode("ascii")
        self._signatures += 1  # a statistic: a lost increment under a race is harmless
        # hmac.new, not the one-shot hmac.digest: that one releases the GIL, and
        # with a busy thread around, getting it back costs far more than
        # hashing a few bytes.
        return _b64encode(hmac.new(self._key, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES])

    def sign_token(self, token: str) -> str:
        """``token.signature`` for a LaunchDarkly resumption token."""
        return token + "." + self._signature(token)

    def encode_context(self, context: Any, run_id: str) -> str | None:
        """The signed kind/key entry for an ``ldclient.Context``, bound to ``run_id``."""
        if getattr(context, "multiple", False):
            pairs = [
                [c.kind, c.key]
                for c in (context.get_individual_context(i) for i in range(context.individual_context_count))
            ]
        else:
            pairs = [[context.kind, context.key]]
        payload = _b64encode(json.dumps(pairs, separators=(",", ":")).encode("utf-8"))
        return payload + "." + self._signature(payload, run_id)

    def verify_token(self, value: Any, trace_id: int) -> ResumedRun | None:
        """The run a ``ld.ai_config.token`` entry names, or None (logged) if not honoured.

        Args:
            value: The raw baggage value.
            trace_id: The trace of the span that would resume the run.
        """
        if type(value) is RunTokenEntry and value.codec is self:
            # Written by ai_run in this process under this codec: trusted as
            # it is, without signing it to check the signature.
            resumed = value.resumed()
            if resumed.run_id != run_id_for_trace(trace_id):
                _warn.warning(
                    "ldai-otel: ignoring %s baggage: %s", TOKEN_BAGGAGE_KEY, "token replayed under another trace"
                )
                return None
            return resumed
        if isinstance(value, RunTokenEntry | DeferredEntry):
            value = str(value)  # another codec's entry: checked as it would be downstream
        if not isinstance(value, str) or len(value) > MAX_ENTRY_BYTES:
            _warn.warning("ldai-otel: ignoring %s baggage: %s", TOKEN_BAGGAGE_KEY, "entry too large or not text")
            return None
        # A hit is read without the lock (one dict lookup is atomic under the
        # GIL) and not moved to the end: the cache evicts oldest-first, and a
        # token evicted while still in use is only verified again.
        cached = self._cache.get(value)
        if cached is None:
            try:
                cached = self._parse_token(value)
            except _Invalid as invalid:
                cached = str(invalid)
            with self._lock:
                self._cache[value] = cached
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        if isinstance(cached, str):
            _warn.warning("ldai-otel: ignoring %s baggage: %s", TOKEN_BAGGAGE_KEY, cached)
            return None
        if cached.signed and cached.run_id != run_id_for_trace(trace_id):
            # A genuine token copied into another trace: metrics of that trace
            # are not the run's.
            _warn.warning("ldai-otel: ignoring %s baggage: %s", TOKEN_BAGGAGE_KEY, "token replayed under another trace")
            return None
        return cached

    def _parse_token(self, value: str) -> ResumedRun:
        token, dot, signature = value.rpartition(".")
        if not dot:
            token, signature = value, ""
            if not self.trust_unsigned_tokens:
                raise _Invalid("unsigned token (set trust_unsigned_tokens to accept plain LaunchDarkly tokens)")
        elif not hmac.compare_digest(
            signature.encode("ascii", "replace"), self._signature_or_empty(token).encode("ascii")
        ):
            raise _Invalid("bad signature")
        try:
            payload = json.loads(_b64decode(token).decode("utf-8"))
        except (ValueError, UnicodeError, binascii.Error) as exc:
            raise _Invalid("undecodable token (%s)" % type(exc).__name__) from None
        if not isinstance(payload, dict):
            raise _Invalid("token is not a JSON object")
        run_id, config_key = payload.get("runId"), payload.get("configKey")
        version, variation_key = payload.get("version"), payload.get("variationKey", "")
        graph_key = payload.get("graphKey")
        if not isinstance(run_id, str) or not isinstance(config_key, str) or not config_key:
            raise _Invalid("token lacks a string runId or configKey")
        if isinstance(version, bool) or not isinstance(version, int):
            raise _Invalid("token version is not an integer")
        if not isinstance(variation_key, str) or not (graph_key is None or isinstance(graph_key, str)):
            raise _Invalid("token variationKey or graphKey is not a string")
        return ResumedRun(run_id, config_key, variation_key, version, graph_key, signed=bool(dot))

    def _signature_or_empty(self, token: str) -> str:
        try:
            return self._signature(token)
        except UnicodeEncodeError:
            return ""  # non-ASCII cannot be ours; compare_digest then fails

    def verify_context(self, value: Any, run_id: str) -> Any | None:
        """The ``ldclient.Context`` of a signed ``ld.ai_config.context`` entry, or None."""
        from ldclient import Context as LDContext

        if isinstance(value, DeferredEntry):
            value = str(value)
        if not isinstance(value, str) or len(value) > MAX_ENTRY_BYTES:
            _warn.warning("ldai-otel: ignoring %s baggage: %s", CONTEXT_BAGGAGE_KEY, "entry too large or not text")
            return None
        payload, dot, signature = value.rpartition(".")
        try:
            expected = self._signature(payload, run_id)
        except UnicodeEncodeError:
            expected = ""
        if (
            not dot
            or not expected
            or not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii"))
        ):
            _warn.warning("ldai-otel: ignoring %s baggage: %s", CONTEXT_BAGGAGE_KEY, "bad or missing signature")
            return None
        try:
            pairs = json.loads(_b64decode(payload).decode("utf-8"))
            contexts = [LDContext.create(str(key), str(kind)) for kind, key in pairs]
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            contexts = []
        if not contexts:
            _warn.warning("ldai-otel: ignoring %s baggage: %s", CONTEXT_BAGGAGE_KEY, "undecodable entry")
            return None
        context = contexts[0] if len(contexts) == 1 else LDContext.create_multi(*contexts)
        if not context.valid:
            _warn.warning("ldai-otel: ignoring %s baggage: %s", CONTEXT_BAGGAGE_KEY, "invalid context")
            return None
        return context


def _reinit_lock(weak_codec: weakref.ReferenceType[RunTokenCodec]) -> None:
    codec = weak_codec()
    if codec is not None:
        codec._lock = threading.Lock()


# The codec ai_run writes baggage with: the most recent processor's. ai_run
# does not know the processor, and with no processor nothing is sent anyway.
_active: weakref.ReferenceType[RunTokenCodec] | None = None
_active_lock = threading.Lock()


def set_active_codec(codec: RunTokenCodec | None) -> None:
    """Makes ``codec`` the one ``ai_run`` signs baggage with (None clears it)."""
    global _active
    with _active_lock:
        _active = weakref.ref(codec) if codec is not None else None


def clear_active_codec(codec: RunTokenCodec) -> None:
    """Clears the active codec if it is ``codec``."""
    global _active
    with _active_lock:
        if _active is not None and _active() is codec:
            _active = None


def active_codec() -> RunTokenCodec | None:
    """The codec of the most recently created live processor, if any."""
    ref = _active
    return ref() if ref is not None else None


def with_run_baggage(
    ctx: Context,
    run_id: str,
    token: Callable[[], str],
    ld_context: Any,
    run: Callable[[], ResumedRun],
) -> Context:
    """``ctx`` with the run's baggage entries, when a processor propagates runs.

    The entries are :class:`DeferredEntry` values: the token is encoded and
    signed only when a propagator first writes it into an outgoing request.
    With a propagator not known to write values with ``str()`` configured,
    they are text, signed at once.

    Args:
        ctx: The context to add the entries to.
        run_id: The run's runId (the context entry is bound to it).
        token: Returns the run's unsigned resumption token.
        ld_context: The LaunchDarkly context (an entry only with ``propagate_context``).
        run: Returns the run as a downstream service would read it, for readers in this process.
    """
    codec = active_codec()
    if codec is None or not codec.propagate:
        return ctx
    token_entry: object = RunTokenEntry(codec, run, token)
    context_entry: object = DeferredEntry(codec.encode_context, ld_context, run_id) if codec.propagate_context else None
    if not propagators_defer():
        token_entry = str(token_entry)
        context_entry = str(context_entry) if context_entry is not None else None
    ctx = otel_baggage.set_baggage(TOKEN_BAGGAGE_KEY, token_entry, ctx)
    if context_entry is not None:
        ctx = otel_baggage.set_baggage(CONTEXT_BAGGAGE_KEY, context_entry, ctx)
    return ctx
