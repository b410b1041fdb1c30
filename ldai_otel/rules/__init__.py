"""The rule book and emission: what a closed segment or graph run emits, through LaunchDarkly's trackers.

The one place the metric rules are written, shared by the three sources: the
processor (live spans in process), ``inspect`` (OTLP files) and ``serve`` (OTLP
over the network) (docs/design.md, "Three sources, one rule book"; docs/rules.md).
"""
