"""The events-only ``ldclient.LDClient`` that ldai-otel makes itself, for its three sources.

The processor normally gets the app's own client. Where ldai-otel makes one
(the zero-code hook, ``ldai-otel inspect --send``, ``ldai-otel serve``) it is
made here, the same way: daemon mode (``use_ldd``: no flag data is needed to
send events, so no streaming connection and nothing to wait for at start),
events on, and LaunchDarkly's diagnostic events off unless asked for.
"""

from __future__ import annotations

from typing import Any


def events_config(sdk_key: str, events_uri: str = "", *, diagnostics: bool = False, **options: Any) -> Any:
    """The ``ldclient.Config`` of an events-only client.

    Args:
        sdk_key: The LaunchDarkly SDK key.
        events_uri: Events base URI (a relay, a test sink); LaunchDarkly's when "".
        diagnostics: Send the SDK's diagnostic events too (the zero-code hook does, as any app's client).
        **options: Further ``Config`` options (``flush_interval``, ``events_max_pending``).
    """
    from ldclient import Config

    settings: dict[str, Any] = {"use_ldd": True, "send_events": True, "diagnostic_opt_out": not diagnostics}
    if events_uri:
        settings["events_uri"] = events_uri
    settings.update(options)
    return Config(sdk_key, **settings)


def events_client(config: Any) -> Any:
    """An ``ldclient.LDClient`` on an :func:`events_config`, started without waiting for flag data."""
    from ldclient import LDClient

    return LDClient(config=config, start_wait=0)
