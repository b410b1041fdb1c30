"""``ldai-otel demo``: a handful of runs, offline, with events delivered to a local sink."""
