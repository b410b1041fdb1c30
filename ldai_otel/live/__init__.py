"""The live source: the processor's run table, emitter thread, resumption, delivery and exit hooks.

Live spans in the app's process (``LDAISpanProcessor``), one of the three sources
beside ``inspect`` (OTLP files) and ``serve`` (OTLP over the network); ``serve``
reuses the emitter thread (docs/design.md, "Layout").
"""
