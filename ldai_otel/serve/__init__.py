"""``ldai-otel serve``: the run model as a service fed by OTLP exporters and the Collector.

The network source: ended spans over OTLP/gRPC and OTLP/HTTP, buffered per trace,
assembled into runs (``otlp``) and emitted by the rule book through the processor's
emitter (docs/design.md, "Three sources, one rule book").
"""
