"""Runs that cross services, with two real processes on 127.0.0.1.

Service A is this test process: ``ai_run`` plus an HTTP call to B with the
standard propagators. Service B is a subprocess: the hand-written server
(processor set up in code) or a Flask app run by ``opentelemetry-instrument``
with no ldai-otel code at all. Both send events to the same loopback sink.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CHAT
from genai import RUN_KEYS, by_key
from opentelemetry import propagate, trace

from ldai_otel import ai_run
from ldai_otel.baggage import TOKEN_BAGGAGE_KEY, derive_signing_key
from ldai_otel.testing import flush_events

SERVICES = Path(__file__).resolve().parent.parent / "examples" / "two_services"
SDK_KEY = "sdk-ldai-otel-test"  # the same environment as the test client: same signing key


class Service:
    """A service subprocess, its port and what it logged."""

    def __init__(self, proc: subprocess.Popen, port: int, stderr_path: Path):
        self.proc = proc
        self.port = port
        self._stderr_path = stderr_path
        self.stdout_after_start = ""

    def post(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        request = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path),
            data=b"{}",
            headers=headers or {},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()

    def stop(self) -> int:
        """Asks the service to quit and waits: its events are flushed on exit."""
        try:
            self.post("/quit")
        finally:
            try:
                code = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        self.stdout_after_start = self.proc.stdout.read()
        return code

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text()


@contextmanager
def start_service(argv: list[str], env: dict, tmp_path: Path) -> Iterator[Service]:
    stderr_path = tmp_path / "service.stderr"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **env},
        )
    try:
        line = proc.stdout.readline()  # "PORT <n>", or "" if it died
        assert line.startswith("PORT "), "service did not start: %r\n%s" % (line, stderr_path.read_text())
        yield Service(proc, int(line.split()[1]), stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()


@pytest.fixture
def hand_written_b(sink, tmp_path):
    env = {"LAUNCHDARKLY_SDK_KEY": SDK_KEY, "LAUNCHDARKLY_EVENTS_URI": sink.uri}
    with start_service([sys.executable, str(SERVICES / "service_b.py")], env, tmp_path) as service:
        yield service


@pytest.fixture
def zero_code_b(sink, tmp_path):
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {
        "LAUNCHDARKLY_SDK_KEY": SDK_KEY,
        "LAUNCHDARKLY_EVENTS_URI": sink.uri,
        "OTEL_SERVICE_NAME": "flask-service",
        "OTEL_TRACES_EXPORTER": "console",  # the app's own exporter must keep working
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    argv = [str(instrument), sys.executable, str(SERVICES / "service_b_zero_code.py")]
    with start_service(argv, env, tmp_path) as service:
        yield service


def call_b(tracer, service: Service) -> tuple[int, str]:
    """An instrumented HTTP client call: a CLIENT span and the standard propagators."""
    with tracer.start_as_current_span("POST /answer", kind=trace.SpanKind.CLIENT):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        return service.post("/answer", headers)


def assert_one_run_across_both(events: list[dict], run_id: str, b_context: dict) -> None:
    assert {e["data"]["runId"] for e in events} == {run_id}
    grouped = by_key(events)
    # A: duration and outcome; it made no model call itself.
    assert [e["context"] for e in grouped["$ld:ai:duration:total"]] == [{"kind": "user", "key": "user-42"}]
    assert [e["metricValue"] for e in grouped["$ld:ai:generation:success"]] == [1]
    assert "$ld:ai:generation:error" not in grouped
    # B: tokens of its two chat calls and its tool call, attributed to B's context.
    assert [e["metricValue"] for e in grouped["$ld:ai:tokens:input"]] == [200]
    assert [e["metricValue"] for e in grouped["$ld:ai:tokens:output"]] == [55]
    assert [e["metricValue"] for e in grouped["$ld:ai:tokens:total"]] == [255]
    assert [e["data"]["toolKey"] for e in grouped["$ld:ai:tool_call"]] == ["search_kb"]
    for key in ("$ld:ai:tokens:total", "$ld:ai:tool_call"):
        event = grouped[key][0]
        assert event["context"] == b_context
        assert event["data"]["configKey"] == CHAT
        assert event["data"]["variationKey"] == "v-chat"
        assert event["data"]["version"] == 3
        assert event["data"]["modelName"] == "gpt-4o-mini"  # from B's spans
        assert event["data"]["providerName"] == "openai"
    assert sorted(grouped) == RUN_KEYS


def run_through_b(
    provider, tracer, processor, chat_config, user, ld_client, sink, service: Service, b_name: str
) -> str:
    """A runs ai_run and calls B; both flush; asserts the one run; returns its runId."""
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        status, body = call_b(tracer, service)
    assert (status, body) == (200, "answered")

    flush_events(ld_client, sink, processor)
    assert service.stop() == 0  # B flushes its events before it exits
    assert_one_run_across_both(
        sink.ai_events(run.run_id),
        run.run_id,
        {"kind": "service", "key": b_name, "anonymous": True},
    )
    assert "Traceback" not in service.stderr
    return run.run_id


def test_one_run_across_a_and_a_hand_written_b(
    provider, tracer, processor, chat_config, user, ld_client, sink, hand_written_b
):
    run_through_b(provider, tracer, processor, chat_config, user, ld_client, sink, hand_written_b, "model-service")


def test_one_run_across_a_and_a_zero_code_b_under_opentelemetry_instrument(
    provider, tracer, processor, chat_config, user, ld_client, sink, zero_code_b
):
    flask_source = (SERVICES / "service_b_zero_code.py").read_text()
    assert "ldai_otel" not in flask_source and "LDAISpanProcessor" not in flask_source

    run_id = run_through_b(
        provider, tracer, processor, chat_config, user, ld_client, sink, zero_code_b, "flask-service"
    )
    # The distro's provider and console exporter are still the app's: the
    # processor was added beside them, and stamped the run onto B's spans.
    exported = zero_code_b.stdout_after_start
    assert '"name": "chat gpt-4o-mini"' in exported
    assert '"ld.ai_config.run_id": "%s"' % run_id in exported


def _sign(token: str) -> str:
    digest = hmac.new(derive_signing_key(SDK_KEY), token.encode() + b"|", hashlib.sha256).digest()[:16]
    return token + "." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_adversarial_baggage_is_ignored_logged_once_and_requests_succeed(
    provider, tracer, chat_config, user, sink, hand_written_b, ld_client
):
    # A genuine token from a real run, to tamper with and replay.
    with ai_run(chat_config, user, tracer_provider=provider):
        genuine_headers: dict[str, str] = {}
        propagate.inject(genuine_headers)
    genuine = next(
        part.split("=", 1)[1]
        for part in genuine_headers["baggage"].split(",")
        if part.startswith(TOKEN_BAGGAGE_KEY + "=")
    )
    token, _, signature = genuine.rpartition(".")
    other_trace = "00-%s-%s-01" % ("ab" * 16, "cd" * 8)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    cases = {
        "bad signature": genuine[:-1] + ("A" if genuine[-1] != "A" else "B"),
        "truncated": genuine[: len(genuine) // 2],
        "truncated signature": genuine[:-6],
        "oversized": _sign(_b64({"runId": "x" * 1500, "configKey": CHAT, "version": 1})),
        "wrong types": _sign(_b64({"runId": 5, "configKey": ["x"], "version": "3"})),
        "non-ascii": "%C3%A9t%C3%A9." + flipped,
        "unsigned": token,
        "replayed": genuine,
    }
    reasons = {
        "bad signature": "bad signature",
        "truncated": "unsigned token",  # cut before the signature's dot
        "oversized": "entry too large or not text",
        "wrong types": "token lacks a string runId or configKey",
        "truncated signature": "bad signature",
        "non-ascii": "bad signature",
        "unsigned": "unsigned token",
        "replayed": "token replayed under another trace",
    }
    for name, value in cases.items():
        for _ in range(2):  # a second try must not log again
            status, body = hand_written_b.post(
                "/answer",
                {"traceparent": other_trace, "baggage": "%s=%s" % (TOKEN_BAGGAGE_KEY, value)},
            )
            assert (status, body) == (200, "answered"), name

    assert hand_written_b.stop() == 0
    stderr = hand_written_b.stderr
    assert "Traceback" not in stderr
    for reason in set(reasons.values()):
        lines = [
            line for line in stderr.splitlines() if "ignoring %s baggage: %s" % (TOKEN_BAGGAGE_KEY, reason) in line
        ]
        assert len(lines) == 1, (reason, stderr)
    assert token not in stderr and signature not in stderr  # never prints a token
    # Nothing was attributed to any run by B.
    assert [e for e in sink.ai_events() if e["context"].get("kind") == "service"] == []


@pytest.mark.parametrize("flags", [[], ["--zero-code"]])
def test_two_services_example_runs_in_one_command(flags):
    result = subprocess.run(
        [sys.executable, str(SERVICES / "run.py"), *flags],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: one run across both services, no metric counted twice." in result.stdout
    assert "B  $ld:ai:tokens:total             255" in result.stdout


def test_zero_code_hook_does_nothing_without_the_sdk_key_or_when_disabled(caplog):
    from ldai_otel.autoinstrument import install_from_environment

    # This test process has no SDK provider installed globally: an enabled
    # hook with a key gets as far as saying so; a disabled or keyless one is silent.
    assert install_from_environment({}) is None
    assert install_from_environment({"LAUNCHDARKLY_SDK_KEY": "sdk-x", "LDAI_OTEL_ENABLED": "false"}) is None
    assert "TracerProvider" not in caplog.text
    assert install_from_environment({"LAUNCHDARKLY_SDK_KEY": "sdk-x"}) is None
    assert "the global TracerProvider is not the SDK's" in caplog.text
