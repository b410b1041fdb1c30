"""``ldai-otel inspect``: the runs and events the processor or ``serve`` makes of an OTLP JSON file."""
