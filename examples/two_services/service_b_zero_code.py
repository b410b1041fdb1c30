"""Service B, zero-code: a Flask app with no ldai-otel code, run under opentelemetry-instrument.

The OpenTelemetry distro configures the TracerProvider, the Flask
instrumentation extracts the incoming context (baggage included), and
ldai-otel's post-instrument hook adds the processor because
``LAUNCHDARKLY_SDK_KEY`` is set. Prints ``PORT <n>`` when ready.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from flask import Flask
from opentelemetry import trace
from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from genai_work import answer_question  # noqa: E402

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("ldclient").setLevel(logging.ERROR)
logging.getLogger("werkzeug").setLevel(logging.ERROR)

app = Flask(__name__)
tracer = trace.get_tracer("flask-service")


@app.post("/answer")
def answer() -> str:
    return answer_question(tracer)


@app.post("/quit")
def quit_() -> str:
    threading.Thread(target=server.shutdown, daemon=True).start()
    return "bye"


server = make_server("127.0.0.1", 0, app, threaded=True)
print("PORT %d" % server.server_port, flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
# On return, atexit handlers run: ldai-otel emits and closes its LaunchDarkly client.
