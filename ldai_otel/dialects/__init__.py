"""Span reading: each instrumentation's attributes to one :class:`~ldai_otel.model.observation.Observation`.

Shared by the three sources (the processor: live spans in process; ``inspect``: OTLP
files; ``serve``: OTLP over the network), so each reads a span the same way
(docs/design.md, "Layout"; docs/dialects.md).
"""
