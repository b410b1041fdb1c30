"""Spans to an OTLP JSON file, as ``ldai-otel inspect`` reads them.

Encoded by the OTLP exporter's own encoder (``opentelemetry-exporter-otlp-proto-common``)
into an ``ExportTraceServiceRequest`` and written with protobuf's
``MessageToJson``, one request per line (JSON Lines, like the Collector's file
exporter; protobuf's JSON spells ids in base64 where the Collector uses hex,
and inspect reads both).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_otlp_json(spans: Sequence, path: Path, append: bool = False) -> Path:
    """Writes ``spans`` (finished SDK spans) to ``path`` as one OTLP JSON line."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    line = MessageToJson(encode_spans(list(spans)), indent=None)
    with open(path, "a" if append else "w", encoding="utf-8") as out:
        out.write(line.replace("\n", " ") + "\n")
    return path
