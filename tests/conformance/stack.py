"""The session's moving parts, handed to every conformance test as ``stack``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from combos import Combo

CONFIG_KEY = "conformance-config"
VARIATION_KEY = "v-conformance"
VERSION = 2
USER_KEY = "conformance-user"
FIRST_CHUNK_DELAY_S = 0.03
"""The stub waits this long before a stream's first chunk."""
FIRST_CHUNK_DELAY_MS = 30


class Stack:
    """What a conformance test drives and looks at."""

    def __init__(self, combo: Combo, stub, sink, ld_client, processor, exporter, config, user):
        self.combo = combo
        self.stub = stub
        self.sink = sink
        self.ld_client = ld_client
        self.processor = processor
        self.exporter = exporter
        self.config = config
        self.user = user

    @contextmanager
    def run(self) -> Iterator:
        """An ``ai_run`` of the conformance AI Config, as an app writes it."""
        from ldai_otel import ai_run

        with ai_run(self.config, self.user) as run:
            yield run

    def events(self, run) -> list[dict]:
        """Flushes processor and client; the ``$ld:ai:*`` events of ``run`` that arrived."""
        from ldai_otel.testing import flush_events

        return [
            e for e in flush_events(self.ld_client, self.sink, self.processor) if e["data"].get("runId") == run.run_id
        ]

    def spans(self, run) -> list:
        """The finished spans of ``run``, as exported (oldest first)."""
        return sorted(
            (
                s
                for s in self.exporter.get_finished_spans()
                if s.context.trace_id == uuid.UUID(run.run_id).int  # the runId is the trace id
            ),
            key=lambda s: s.start_time or 0,
        )
