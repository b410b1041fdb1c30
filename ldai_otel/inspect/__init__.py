"""``ldai-otel inspect``: the runs and events the processor or ``serve`` makes of an OTLP JSON file.

The file source: ended spans read from OTLP files, assembled into runs as ``serve``
assembles them (``otlp``) and emitted by the same rule book into a recording client
(docs/design.md, "Three sources, one rule book").
"""
