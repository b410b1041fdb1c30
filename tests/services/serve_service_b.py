"""Service B for the ``serve`` tests: hand-written, no ldai-otel at all, spans exported over OTLP.

A stdlib HTTP server whose spans go to an OTLP exporter (``OTLP_PROTOCOL``:
``grpc`` or ``http``; ``OTLP_ENDPOINT``); it extracts the incoming context
only for its server span, as hand-written servers often do. The GenAI work is
the two-service example's. Prints ``PORT <n>`` when ready; ``POST /quit``
flushes the exporter and exits.
"""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "two_services"))
from genai_work import answer_question  # noqa: E402

if os.environ["OTLP_PROTOCOL"] == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"], insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"])

provider = TracerProvider(resource=Resource.create({"service.name": "model-service"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("model-service")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/quit":
            provider.force_flush()
            self._reply(200, b"bye")
            threading.Thread(target=server.shutdown, daemon=True).start()
            return
        parent = propagate.extract(self.headers)
        span = tracer.start_span("POST " + self.path, context=parent, kind=trace.SpanKind.SERVER)
        try:
            with trace.use_span(span, end_on_exit=False):
                body = answer_question(tracer).encode()
            self._reply(200, body)
        finally:
            span.end()

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT %d" % server.server_address[1], flush=True)
try:
    server.serve_forever()
finally:
    server.server_close()
    provider.shutdown()
