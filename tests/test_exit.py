"""Nothing lost at exit, whatever the order the app ends in.

Scripts run as real subprocesses (``exit_app.py``, the README's Quick start
shape with a real LDClient), serverless handlers and close paths run in
process with the real SDK and client; the evidence is the JSON at the
loopback events sink. Waits are bounded; nothing is timed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import CHAT
from genai import RUN_KEYS, by_key, chat, tool
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Config, Context, LDClient
from ldclient.config import HTTPConfig
from opentelemetry.sdk.trace import TracerProvider
from test_reliability import HangingEndpoint

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import LDEventSink, sink_client

APP = Path(__file__).resolve().parent / "exit_app.py"


def run_app(sink: LDEventSink, mode: str) -> tuple[list[dict[str, Any]], str]:
    """Runs ``exit_app.py`` to its end; returns the lines it printed and its stderr."""
    result = subprocess.run(
        [sys.executable, str(APP), sink.uri, mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=APP.parent,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def assert_runs_exact(events: list[dict], expected: dict[str, list[int]]) -> None:
    """Each expected run arrived with each metric once, with its tokens; no other run did."""
    runs: dict[str, list[dict]] = {}
    for event in events:
        runs.setdefault(event["data"]["runId"], []).append(event)
    assert set(runs) == set(expected)
    for run_id, (inp, out) in expected.items():
        grouped = by_key(runs[run_id])
        assert sorted(grouped) == RUN_KEYS, run_id
        assert all(len(group) == 1 for group in grouped.values()), (run_id, grouped)
        assert grouped["$ld:ai:tokens:input"][0]["metricValue"] == inp
        assert grouped["$ld:ai:tokens:output"][0]["metricValue"] == out
        assert grouped["$ld:ai:tokens:total"][0]["metricValue"] == inp + out
        assert grouped["$ld:ai:tool_call"][0]["data"]["toolKey"] == "search"
        assert grouped["$ld:ai:generation:success"][0]["metricValue"] == 1
        assert grouped["$ld:ai:duration:total"][0]["metricValue"] >= 0
        assert all(e["data"]["configKey"] == CHAT for e in runs[run_id])


# --------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------


def test_a_script_that_only_closes_its_client_delivers_every_run(sink):
    # The order that lost 5 runs of 5: ld_client.close() at the end, no provider.shutdown().
    lines, _ = run_app(sink, "close")
    assert len(lines[0]["runs"]) == 5
    assert_runs_exact(sink.ai_events(), lines[0]["runs"])


def test_a_script_that_shuts_the_provider_down_then_closes_delivers_every_run_once(sink):
    lines, _ = run_app(sink, "shutdown-close")
    assert len(lines[0]["runs"]) == 5
    assert_runs_exact(sink.ai_events(), lines[0]["runs"])


def test_a_script_that_just_exits_delivers_every_run(sink):
    lines, _ = run_app(sink, "exit")
    assert len(lines[0]["runs"]) == 5
    assert_runs_exact(sink.ai_events(), lines[0]["runs"])


def test_a_script_that_just_exits_delivers_even_where_no_thread_may_start_at_exit(sink):
    # Python 3.12 and later refuse to start threads in atexit handlers; the exit
    # delivery must not need one.
    lines, _ = run_app(sink, "exit-no-threads")
    assert len(lines[0]["runs"]) == 5
    assert_runs_exact(sink.ai_events(), lines[0]["runs"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_worker_that_exits_normally_delivers_its_runs_and_never_the_parents(sink):
    lines, _ = run_app(sink, "fork")
    parent = next(line for line in lines if line["role"] == "parent")
    child = next(line for line in lines if line["role"] == "child")
    assert parent["pid"] != child["pid"]
    assert len(parent["runs"]) == 2 and len(child["runs"]) == 5
    assert_runs_exact(sink.ai_events(), {**parent["runs"], **child["runs"]})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_multiprocessing_worker_that_force_flushes_delivers_its_runs(sink):
    lines, _ = run_app(sink, "multiprocessing")
    parent = next(line for line in lines if line["role"] == "parent")
    child = next(line for line in lines if line["role"] == "child")
    assert parent["pid"] != child["pid"]
    assert_runs_exact(sink.ai_events(), {**parent["runs"], **child["runs"]})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, deadline: float) -> dict[str, Any]:
    """GETs ``url``, retrying while the server is not up yet (until ``deadline``)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn is POSIX-only")
def test_gunicorn_workers_deliver_their_runs_when_the_server_stops(sink):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",  # the client and the processor are made in the master, before the fork
            "--workers=2",
            "--config=exit_gunicorn_conf.py",  # post_fork: ld_client.postfork()
            "--bind=127.0.0.1:%d" % port,
            "exit_wsgi:app",
        ],
        cwd=APP.parent,
        env={**os.environ, "LDAI_OTEL_TEST_EVENTS_URI": sink.uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answers = [get_json("http://127.0.0.1:%d/" % port, deadline) for _ in range(12)]
        server.send_signal(signal.SIGTERM)  # a graceful stop: each worker ends with SystemExit
        _, stderr = server.communicate(timeout=90)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert server.pid not in {answer["pid"] for answer in answers}  # runs ran in the workers
    # The app's client never flushes on a timer: these were delivered by each worker on its way out.
    assert_runs_exact(sink.ai_events(), {answer["run_id"]: answer["tokens"] for answer in answers})


def test_closing_the_client_while_a_run_is_open_delivers_what_the_run_had(sink):
    lines, stderr = run_app(sink, "open-close")
    closed_runs, open_run = lines[0]["runs"], lines[0]["open_run"]
    # The closed runs exactly; the open one with the call that had ended when the client closed.
    assert_runs_exact([e for e in sink.ai_events() if e["data"]["runId"] != open_run], closed_runs)
    grouped = by_key(sink.ai_events(open_run))
    assert sorted(grouped) == ["$ld:ai:tokens:input", "$ld:ai:tokens:output", "$ld:ai:tokens:total"]
    assert [grouped[k][0]["metricValue"] for k in sorted(grouped)] == [40, 2, 42]
    assert all(len(group) == 1 for group in grouped.values())
    # What it added after the client closed could not be sent, and the app is told.
    assert "ended after its LaunchDarkly client was closed" in stderr


# --------------------------------------------------------------------------
# Serverless handlers and close paths, in process
# --------------------------------------------------------------------------


class App:
    """A TracerProvider with an LDAISpanProcessor on a real LDClient, and an evaluated config."""

    def __init__(self, ld_client: LDClient, **options: Any):
        self.ld_client = ld_client
        self.provider = TracerProvider()
        self.processor = LDAISpanProcessor(ld_client, **options)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("tests")
        self.user = Context.create("user-exit")
        self.config = LDAIClient(ld_client).completion_config(CHAT, self.user, AICompletionConfigDefault(enabled=False))

    def one_run(self, inp: int, out: int) -> str:
        with ai_run(self.config, self.user, tracer_provider=self.provider, new_trace=True) as run:
            chat(self.tracer, inp, out)
            with tool(self.tracer, "search"):
                pass
        return run.run_id


def test_a_serverless_handler_that_force_flushes_has_its_runs_at_the_sink_when_it_returns(sink, test_data):
    # The client never flushes on its own here (hourly interval): only the handler's flush sends.
    client = sink_client(sink, test_data)
    app = App(client)

    def handler(event: dict, context: object) -> dict:
        try:
            run_ids = [app.one_run(event["tokens"] + i, 3) for i in range(2)]
            return {"runs": run_ids}
        finally:
            app.provider.force_flush()  # the documented pattern: before returning, always

    try:
        seen: dict[str, list[int]] = {}
        for invocation in range(3):
            response = handler({"tokens": 100 * (invocation + 1)}, object())
            # The process may be frozen right now: read the sink at once, no flush, no wait.
            seen.update({run_id: [100 * (invocation + 1) + i, 3] for i, run_id in enumerate(response["runs"])})
            assert_runs_exact(sink.ai_events(), seen)
    finally:
        app.provider.shutdown()
        client.close()


def test_a_serverless_handler_without_the_flush_has_nothing_at_the_sink_when_it_returns(sink, test_data):
    # The control for the test above: what a frozen process would have delivered without it.
    client = sink_client(sink, test_data)
    app = App(client)
    try:
        run_id = app.one_run(10, 3)
        assert app.processor.open_runs == 0
        assert sink.ai_events(run_id) == []
        assert app.processor.force_flush() is True
        assert len(sink.ai_events(run_id)) == len(RUN_KEYS)
    finally:
        app.provider.shutdown()
        client.close()


def test_a_client_closed_by_its_with_block_delivers_the_runs_it_carried(sink, test_data):
    with sink_client(sink, test_data) as client:
        app = App(client)
        expected = {app.one_run(20 + i, 4): [20 + i, 4] for i in range(3)}
    # LDClient.__exit__ calls close(), which the processor hooked; close() waited for the posts.
    assert_runs_exact(sink.ai_events(), expected)
    app.provider.shutdown()  # after the client is gone: nothing more, nothing raised
    assert_runs_exact(sink.ai_events(), expected)


# --------------------------------------------------------------------------
# Failure paths: the events endpoint down or hanging when the client closes
# --------------------------------------------------------------------------


def faulty_client(events_uri: str, test_data: Any) -> LDClient:
    config = Config(
        "sdk-ldai-otel-test",
        update_processor_class=test_data,
        events_uri=events_uri,
        send_events=True,
        diagnostic_opt_out=True,
        flush_interval=3600,
        http=HTTPConfig(connect_timeout=1, read_timeout=1),
    )
    return LDClient(config=config, start_wait=5)


def close_on_a_thread(client: LDClient) -> list[BaseException]:
    """Closes ``client`` on another thread; returns what it raised once it returned (bounded)."""
    raised: list[BaseException] = []

    def close() -> None:
        try:
            client.close()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=close, name="closer", daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "close() did not return"
    return raised


def our_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("ldai_otel") and r.levelno >= level]


def test_closing_while_the_events_endpoint_hangs_returns_and_says_so_once(test_data, caplog):
    endpoint = HangingEndpoint()
    try:
        client = faulty_client(endpoint.uri, test_data)
        # Two processors on one client: two waits that time out, one log line.
        first = App(client, delivery_timeout_s=0.5)
        second = App(client, delivery_timeout_s=0.5)
        with caplog.at_level(logging.WARNING):
            first.one_run(5, 5)
            second.one_run(6, 6)
            assert close_on_a_thread(client) == []
            first.provider.shutdown()
            second.provider.shutdown()
        assert endpoint.wait_for_request(b"$ld:ai:tokens:total")  # it was tried
        warnings = [m for m in our_records(caplog, logging.WARNING) if "did not confirm" in m]
        assert len(warnings) == 1, warnings
        assert our_records(caplog, logging.ERROR) == []
    finally:
        endpoint.close()


def test_closing_while_the_events_endpoint_refuses_connections_returns_without_error(test_data, caplog):
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))  # bound, not listening: every connection is refused
    try:
        client = faulty_client("http://127.0.0.1:%d" % closed.getsockname()[1], test_data)
        app = App(client, delivery_timeout_s=0.5)
        with caplog.at_level(logging.WARNING):
            app.one_run(5, 5)
            assert close_on_a_thread(client) == []
            app.provider.shutdown()
        assert our_records(caplog, logging.ERROR) == []
    finally:
        closed.close()
