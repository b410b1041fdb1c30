"""``ldai-otel serve``: the run model as a service fed by OTLP exporters and the Collector."""
