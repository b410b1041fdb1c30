"""OTLP JSON lines for the tests that read spans back (``inspect``) or post them (``serve``).

The real OTLP JSON file exporter (``opentelemetry-exporter-otlp-json-file``: hex ids, one
request per line, like the Collector's file exporter) where it is installed. It requires
``opentelemetry-sdk`` >= 1.43, so the main suite's run at the dependency floors (1.30) writes
the same requests with the SDK's own OTLP encoder and protobuf's JSON mapping (base64 ids),
the other spelling ``inspect`` and ``serve`` read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

try:
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
except ImportError:  # the floors run

    class FileSpanExporter(SpanExporter):  # type: ignore[no-redef]
        """One ``ExportTraceServiceRequest`` per export, as one line of protobuf JSON."""

        def __init__(self, stream: IO[str]) -> None:
            self._stream = stream

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            from google.protobuf.json_format import MessageToDict
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

            # Compact, one request per line, like the file exporter (but with base64 ids).
            self._stream.write(json.dumps(MessageToDict(encode_spans(spans)), separators=(",", ":")) + "\n")
            self._stream.flush()
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass


__all__ = ["FileSpanExporter"]
