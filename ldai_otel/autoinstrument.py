"""Zero-code setup under ``opentelemetry-instrument``.

Installed as an ``opentelemetry_post_instrument`` entry point: after the
OpenTelemetry distro has configured the global TracerProvider and the
instrumentations, :func:`post_instrument` adds an :class:`LDAISpanProcessor`
to that provider, when ``LAUNCHDARKLY_SDK_KEY`` is set. It never replaces the
provider or its exporters, and does nothing when the variable is absent.

Environment variables:

* ``LAUNCHDARKLY_SDK_KEY``: the SDK key (required; also derives the baggage
  signing key shared by every service of the environment).
* ``LAUNCHDARKLY_EVENTS_URI``: events endpoint (default LaunchDarkly's; set it
  for a Relay Proxy or a test sink).
* ``LDAI_OTEL_ENABLED``: ``false`` turns the hook off.
* ``LDAI_OTEL_SIGNING_KEY``: explicit baggage signing key.
* ``LDAI_OTEL_TRUST_UNSIGNED_TOKENS``: ``true`` honours plain LaunchDarkly tokens.
* ``LDAI_OTEL_PROPAGATE_CONTEXT``: ``true`` reads/writes the context entry.

The LaunchDarkly client made here is the processor's own: it only sends
events (daemon mode, no flag connection) and is closed at exit after the
processor has emitted everything.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping

from opentelemetry import trace

from ldai_otel._ratelimit import RateLimitedLogger

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)  # every exception path is rate-limited
_installed_lock = threading.Lock()
_installed = False

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def post_instrument(**_: object) -> None:
    """The ``opentelemetry_post_instrument`` hook; never raises."""
    try:
        install_from_environment(os.environ)
    except Exception:
        _errors.exception("ldai-otel: zero-code setup failed; the app runs without it")


def install_from_environment(env: Mapping[str, str]) -> object | None:
    """Adds an LDAISpanProcessor to the global provider, configured from ``env``.

    Returns:
        The processor, or None when nothing was installed.
    """
    global _installed
    sdk_key = env.get("LAUNCHDARKLY_SDK_KEY", "").strip()
    if not sdk_key or not _flag(env, "LDAI_OTEL_ENABLED", True):
        return None
    provider = trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):
        _logger.warning(
            "ldai-otel: the global TracerProvider is not the SDK's (%s); install opentelemetry-distro "
            "or configure a TracerProvider",
            type(provider).__name__,
        )
        return None
    with _installed_lock:
        if _installed:
            return None
        _installed = True

    from ldai_otel.live.events_client import events_client, events_config
    from ldai_otel.processor import LDAISpanProcessor

    # The processor's own client only sends events: no flag connection (live.events_client).
    ld_client = events_client(events_config(sdk_key, env.get("LAUNCHDARKLY_EVENTS_URI", ""), diagnostics=True))
    processor = LDAISpanProcessor(
        ld_client,
        signing_key=env.get("LDAI_OTEL_SIGNING_KEY") or None,
        trust_unsigned_tokens=_flag(env, "LDAI_OTEL_TRUST_UNSIGNED_TOKENS", False),
        propagate_context=_flag(env, "LDAI_OTEL_PROPAGATE_CONTEXT", False),
    )
    provider.add_span_processor(processor)

    def close() -> None:
        # Emit every open segment before the client's final flush.
        processor.shutdown()
        ld_client.close()

    atexit.register(close)
    _logger.info("ldai-otel: LDAISpanProcessor added to the global TracerProvider")
    return processor
