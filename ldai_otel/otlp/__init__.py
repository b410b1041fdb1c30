"""OTLP decoding and trace assembly: runs found through parent chains in ended spans.

Shared by the two sources that see ended spans only: ``inspect`` (OTLP files) and
``serve`` (OTLP over the network); the processor finds runs through the live
OpenTelemetry context instead (docs/design.md, "Layout").
"""
