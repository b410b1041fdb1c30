"""OTLP decoding and trace assembly: runs found through parent chains in ended spans (``inspect``, ``serve``)."""
