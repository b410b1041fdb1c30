"""``ldai-otel demo``: a handful of runs, offline, with events delivered to a local sink.

The runs go through the processor (the live source), as an app's would (docs/design.md, "Layout").
"""
