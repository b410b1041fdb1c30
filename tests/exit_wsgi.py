"""A WSGI app for the pre-fork exit test, served by gunicorn with ``--preload``.

The master imports it: the LaunchDarkly client (TestData, events to
``LDAI_OTEL_TEST_EVENTS_URI``), the TracerProvider and the LDAISpanProcessor are
made before the fork, and ``exit_gunicorn_conf.post_fork`` calls
``ld_client.postfork()`` in each worker. Each request runs one run with a chat
call and a tool call and answers ``{"pid": ..., "run_id": ..., "tokens": [in, out]}``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import ldclient
from genai import chat, tool
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Context
from ldclient.config import Config
from ldclient.integrations.test_data import TestData
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import add_ai_config

CONFIG_KEY = "chat-config"

td = TestData.data_source()
add_ai_config(td, CONFIG_KEY, variation_key="v-exit", version=2)
ldclient.set_config(
    Config(
        "sdk-ldai-otel-exit",
        update_processor_class=td,
        events_uri=os.environ["LDAI_OTEL_TEST_EVENTS_URI"],
        diagnostic_opt_out=True,
        flush_interval=3600,  # no delivery on a timer: what arrives was delivered at the worker's exit
    )
)
ld_client = ldclient.get()
ai_client = LDAIClient(ld_client)
provider = TracerProvider()
provider.add_span_processor(LDAISpanProcessor(ld_client))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("exit-wsgi")
context = Context.builder("user-123").kind("user").build()
_count_lock = threading.Lock()
_count = 0


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    global _count
    with _count_lock:
        _count += 1
        inp, out = 1000 * (os.getpid() % 1000) + _count, 9
    config = ai_client.completion_config(CONFIG_KEY, context, AICompletionConfigDefault(enabled=False))
    with ai_run(config, context) as run:
        chat(tracer, inp, out)
        with tool(tracer, "search"):
            pass
    body = json.dumps({"pid": os.getpid(), "run_id": run.run_id, "tokens": [inp, out]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
