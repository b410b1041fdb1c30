"""An app under ``opentelemetry-instrument`` whose sampler is named by environment.

No ldai-otel setup code: the zero-code hook adds the processor, and
``OTEL_TRACES_SAMPLER=ldai_...`` picks the run-recording sampler. The app adds
an in-memory exporter next to the processor, runs ``ai_run`` a given number
of times (one model span each) and prints the sampler and what was exported.
"""

from __future__ import annotations

import json
import sys

from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Config, Context, LDClient
from ldclient.integrations.test_data import TestData
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ldai_otel import ai_run
from ldai_otel.testing import add_ai_config

CHAT_START = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-test"}


def main(runs: int) -> None:
    td = TestData.data_source()
    add_ai_config(td, "chat-config", variation_key="v-chat", version=3)
    # Evaluates the config only; the processor's own client sends the events.
    client = LDClient(Config("sdk-sampled-app", update_processor_class=td, send_events=False))
    ai_client = LDAIClient(client)
    provider = trace.get_tracer_provider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = trace.get_tracer("sampled-app")
    user = Context.create("user-7")
    for _ in range(runs):
        config = ai_client.completion_config("chat-config", user, AICompletionConfigDefault(enabled=False))
        with ai_run(config, user):
            with tracer.start_as_current_span("chat gpt-test", attributes=CHAT_START) as span:
                span.set_attributes({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
    print(
        json.dumps(
            {
                "sampler": provider.sampler.get_description(),
                "exported": len(exporter.get_finished_spans()),
            }
        ),
        flush=True,
    )
    client.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
