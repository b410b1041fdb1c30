"""The run's own ``LDAIConfigTracker``: every event of a run goes through one built here.

LaunchDarkly's tracker carries the run's identity on each event (runId,
config key, variation, version, graph key) and keeps its at-most-once guards per
tracker; a run's segments, its judges' results and its mapped evaluation events
each get a tracker made the same way, so their events agree on that identity.
"""

from __future__ import annotations

from typing import Any

from ldai.tracker import LDAIConfigTracker

from ldai_otel.model.run import RunInfo


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
