"""A Node.js service in a run, through ``ldai-otel serve``: no LaunchDarkly code in Node.

Service B runs the OpenTelemetry Node SDK (``@opentelemetry/sdk-node``), the
contrib OpenAI instrumentation (``@opentelemetry/instrumentation-openai``) and
the real ``openai`` npm client against the loopback OpenAI stub, and exports
OTLP/HTTP protobuf to serve. Its packages come from the npm registry, pinned
in ``tests/node/package-lock.json``, installed by ``tests/node/install.sh``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conformance.openai_stub import COMPLETION_TOKENS, PROMPT_TOKENS, OpenAIStub
from conftest import CHAT
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import start_serve
from test_cross_service import call_b, start_service

from ldai_otel import ai_run

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the services' npm packages installed."""
    binary = shutil.which("node")
    assert binary, "Node.js is needed for these tests (apt-get install nodejs npm)"
    subprocess.run(["bash", str(NODE_DIR / "install.sh")], check=True, timeout=600)
    return binary


@pytest.fixture
def stub():
    with OpenAIStub() as s:
        yield s


def node_b(node: str, serve, stub, tmp_path):
    env = {
        "OTLP_ENDPOINT": serve.http_url,
        "OPENAI_BASE_URL": stub.base_url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "LAUNCHDARKLY_SDK_KEY": "",
    }
    return start_service([node, str(NODE_DIR / "service_b.js")], env, tmp_path)


def node_work_events(duration_ms: int | None) -> list[tuple]:
    """Two chat calls through the stub (11 / 7 tokens each) and the tool span."""
    return sorted(
        [
            ("$ld:ai:duration:total", duration_ms, None),
            ("$ld:ai:generation:success", 1, None),
            ("$ld:ai:tokens:input", 2 * PROMPT_TOKENS, None),
            ("$ld:ai:tokens:output", 2 * COMPLETION_TOKENS, None),
            ("$ld:ai:tokens:total", 2 * (PROMPT_TOKENS + COMPLETION_TOKENS), None),
            ("$ld:ai:tool_call", 1, "search_kb"),
        ],
        key=repr,
    )


def _events(events: list[dict]) -> list[tuple]:
    return sorted(((e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events), key=repr)


def test_a_python_run_continues_in_a_node_service_with_the_openai_instrumentation(
    node, stub, chat_config, user, sink, tmp_path
):
    with start_serve(sink, tmp_path, "--decision-wait", "2") as serve:
        with node_b(node, serve, stub, tmp_path) as b:
            memory = InMemorySpanExporter()
            provider = TracerProvider(resource=Resource.create({"service.name": "app-a"}))
            provider.add_span_processor(SimpleSpanProcessor(serve.grpc_exporter()))
            provider.add_span_processor(SimpleSpanProcessor(memory))
            try:
                with ai_run(chat_config, user, tracer_provider=provider, record_context=True) as run:
                    assert call_b(provider.get_tracer("app-a"), b) == (200, "answered")
            finally:
                provider.shutdown()
            assert b.stop() == 0
            assert "Error" not in b.stderr, b.stderr
        assert len(stub.requests) == 2
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 60)
        assert serve.terminate() == 0
    (root,) = [s for s in memory.get_finished_spans() if s.name == "ai_run " + CHAT]
    events = sink.ai_events(run.run_id)
    assert _events(events) == node_work_events((root.end_time - root.start_time) // 1_000_000)
    for event in events:
        assert event["context"] == {"kind": "user", "key": "user-42"}
        assert (event["data"]["configKey"], event["data"]["variationKey"]) == (CHAT, "v-chat")


def test_a_node_service_marks_a_run_itself_with_the_documented_attributes(node, stub, sink, tmp_path):
    with start_serve(sink, tmp_path, "--decision-wait", "2") as serve:
        with node_b(node, serve, stub, tmp_path) as b:
            assert b.post("/marked-run") == (200, "answered")
            assert b.stop() == 0
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 60)
        assert serve.terminate() == 0
    events = sink.ai_events()
    assert len({e["data"]["runId"] for e in events}) == 1
    (duration,) = [e["metricValue"] for e in events if e["key"] == "$ld:ai:duration:total"]
    assert isinstance(duration, int) and duration >= 0
    assert _events(events) == node_work_events(duration)
    for event in events:
        assert event["context"] == {"kind": "user", "key": "node-user"}
        data = event["data"]
        assert (data["configKey"], data["variationKey"], data["version"]) == (CHAT, "v-chat", 3)
        # No model on the root: the first model call's, as the Node instrumentation wrote it.
        assert (data["modelName"], data["providerName"]) == ("gpt-4o-mini", "openai")


def test_node_is_really_the_one_installed_by_the_lock_file(node):
    version = subprocess.run(
        [node, "-e", "console.log(require('@opentelemetry/instrumentation-openai/package.json').version)"],
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        check=True,
        env={**os.environ},
    ).stdout.strip()
    assert version == "0.20.0"
