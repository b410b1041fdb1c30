"""Span reading: each instrumentation's attributes to one :class:`~ldai_otel.model.observation.Observation`."""
