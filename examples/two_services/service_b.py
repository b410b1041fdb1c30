"""Service B, hand-written: stdlib HTTP server with LDAISpanProcessor set up in code.

It extracts the incoming context only for its server span and never attaches
it (as many hand-written servers do): the GenAI spans join the resumed run
through their parent span. Prints ``PORT <n>`` when ready; exits on SIGINT or
on ``POST /quit`` after flushing.

Environment: ``LAUNCHDARKLY_SDK_KEY`` (the same environment as service A: the
baggage signing key is derived from it) and ``LAUNCHDARKLY_EVENTS_URI``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ldclient import Config, LDClient
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from genai_work import answer_question  # noqa: E402

from ldai_otel import LDAISpanProcessor  # noqa: E402

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("ldclient").setLevel(logging.ERROR)

ld_client = LDClient(
    # Events only: this service evaluates no flags, so no flag connection (daemon mode).
    config=Config(
        os.environ["LAUNCHDARKLY_SDK_KEY"],
        events_uri=os.environ.get("LAUNCHDARKLY_EVENTS_URI", "https://events.launchdarkly.com"),
        use_ldd=True,
    ),
    start_wait=0,
)
provider = TracerProvider(resource=Resource.create({"service.name": "model-service"}))
processor = LDAISpanProcessor(ld_client)
provider.add_span_processor(processor)
tracer = provider.get_tracer("model-service")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/quit":
            self._reply(200, b"bye")
            threading.Thread(target=server.shutdown, daemon=True).start()
            return
        parent = propagate.extract(self.headers)  # case-insensitive .get()
        span = tracer.start_span("POST " + self.path, context=parent, kind=trace.SpanKind.SERVER)
        try:
            # Only the server span gets the extracted context; children see
            # the server span as current, not the baggage.
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
except KeyboardInterrupt:
    pass
finally:
    server.server_close()
    provider.shutdown()
    ld_client.close()
