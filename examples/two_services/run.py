"""Two services on loopback, one run: ``python examples/two_services/run.py``.

This process is service A: it evaluates an AI Config (offline TestData) for
a user, opens ``ai_run`` and calls service B over HTTP with the standard
propagators. Service B (``service_b.py``, or ``service_b_zero_code.py`` under
``opentelemetry-instrument`` with ``--zero-code``) makes two model calls and
a tool call. Both send their events to a local LaunchDarkly events sink; the
report groups them by runId and by who sent them.

Nothing leaves 127.0.0.1. ``--zero-code`` needs ``flask``,
``opentelemetry-distro`` and ``opentelemetry-instrumentation-flask``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Context
from ldclient.integrations.test_data import TestData
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import LDEventSink, add_ai_config, flush_events, sink_client

HERE = Path(__file__).resolve().parent
SDK_KEY = "sdk-two-services-example"  # both services share the environment, hence the signing key


def start_b(sink: LDEventSink, zero_code: bool) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "LAUNCHDARKLY_SDK_KEY": SDK_KEY, "LAUNCHDARKLY_EVENTS_URI": sink.uri}
    if zero_code:
        env.update(
            OTEL_SERVICE_NAME="service-b",
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
        argv = [
            str(Path(sys.executable).parent / "opentelemetry-instrument"),
            sys.executable,
            str(HERE / "service_b_zero_code.py"),
        ]
    else:
        argv = [sys.executable, str(HERE / "service_b.py")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit("service B did not start")
    return proc, int(line.split()[1])


def post(port: int, path: str, headers: dict) -> str:
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=b"{}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zero-code", action="store_true", help="run B under opentelemetry-instrument")
    args = parser.parse_args()

    with LDEventSink() as sink:
        td = TestData.data_source()
        add_ai_config(td, "support-chat", variation_key="concise", version=4, model="gpt-4o-mini")
        ld_client = sink_client(sink, td, sdk_key=SDK_KEY)
        provider = TracerProvider(resource=Resource.create({"service.name": "service-a"}))
        processor = LDAISpanProcessor(ld_client)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("service-a")
        proc, port = start_b(sink, args.zero_code)
        try:
            user = Context.create("user-123")
            config = LDAIClient(ld_client).completion_config(
                "support-chat", user, AICompletionConfigDefault(enabled=False)
            )
            with ai_run(config, user, tracer_provider=provider) as run:
                with tracer.start_as_current_span("POST /answer", kind=trace.SpanKind.CLIENT):
                    headers: dict[str, str] = {}
                    propagate.inject(headers)  # traceparent + baggage (the signed run token)
                    answer = post(port, "/answer", headers)
            flush_events(ld_client, sink, processor)
        finally:
            try:
                post(port, "/quit", {})
            finally:
                proc.wait(timeout=60)  # B flushes its events before it exits
                provider.shutdown()
                ld_client.close()
        events = sink.ai_events(run.run_id)

    print("service B answered %r; baggage header %d bytes" % (answer, len(headers["baggage"].encode())))
    print("run %s: %d events" % (run.run_id, len(events)))
    for event in events:
        who = "A" if event["context"].get("kind") == "user" else "B"
        extra = " toolKey=%s" % event["data"]["toolKey"] if "toolKey" in event["data"] else ""
        print("  %s  %-28s %6s%s" % (who, event["key"], event["metricValue"], extra))
    keys = sorted(e["key"] for e in events)
    expected = sorted(
        [
            "$ld:ai:duration:total",
            "$ld:ai:generation:success",
            "$ld:ai:tokens:input",
            "$ld:ai:tokens:output",
            "$ld:ai:tokens:total",
            "$ld:ai:tool_call",
        ]
    )
    if keys != expected:
        print("FAILED: expected one event per metric for the run, got %s" % keys)
        return 1
    print("OK: one run across both services, no metric counted twice.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
