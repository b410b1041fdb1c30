"""The live (in-process) source: the processor's run table, emitter thread, delivery and exit hooks."""
