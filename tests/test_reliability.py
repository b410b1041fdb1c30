"""Reliability: concurrency, LaunchDarkly endpoint faults, pre-fork servers.

Every test drives the real SDK and a real ``LDClient``; the evidence is the
JSON events at a loopback sink (or, for faults, that the app's code returns
normally, which it could not if a hook raised: the OTel SDK does not catch).
Waits are bounded; nothing is timed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import CHAT
from genai import RUN_KEYS, by_key, chat, tool
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Config, Context, LDClient
from ldclient.config import HTTPConfig
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import LDEventSink, flush_events

SDK_KEY = "sdk-ldai-otel-test"


def make_client(events_uri: str, test_data: Any, *, timeout_s: float = 5.0) -> LDClient:
    """A real LDClient on TestData with room for thousands of runs' events and short HTTP timeouts."""
    config = Config(
        SDK_KEY,
        update_processor_class=test_data,
        events_uri=events_uri,
        send_events=True,
        diagnostic_opt_out=True,
        flush_interval=3600,
        events_max_pending=100_000,
        http=HTTPConfig(connect_timeout=timeout_s, read_timeout=timeout_s),
    )
    return LDClient(config=config, start_wait=5)


class Harness:
    """A TracerProvider with an LDAISpanProcessor on one LDClient, and an evaluated config."""

    def __init__(self, ld_client: LDClient):
        self.ld_client = ld_client
        self.provider = TracerProvider()
        self.processor = LDAISpanProcessor(ld_client)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("tests")
        self.user = Context.create("user-reliability")
        self.config = LDAIClient(ld_client).completion_config(CHAT, self.user, AICompletionConfigDefault(enabled=False))

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def roomy(sink, test_data) -> Iterator[Harness]:
    client = make_client(sink.uri, test_data)
    harness = Harness(client)
    yield harness
    harness.close()
    client.close()


def events_by_run(events: list[dict]) -> dict[str, dict[str, list[dict]]]:
    runs: dict[str, list[dict]] = {}
    for event in events:
        runs.setdefault(event["data"]["runId"], []).append(event)
    return {run_id: by_key(group) for run_id, group in runs.items()}


def assert_exact(runs: dict[str, dict[str, list[dict]]], expected: dict[str, tuple[int, int, str]]) -> None:
    """Every run has each metric exactly once with the expected values; no other run appears."""
    assert set(runs) == set(expected)
    for run_id, (inp, out, tool_key) in expected.items():
        grouped = runs[run_id]
        assert sorted(grouped) == RUN_KEYS, run_id
        assert all(len(group) == 1 for group in grouped.values()), (run_id, grouped)
        assert grouped["$ld:ai:tokens:input"][0]["metricValue"] == inp
        assert grouped["$ld:ai:tokens:output"][0]["metricValue"] == out
        assert grouped["$ld:ai:tokens:total"][0]["metricValue"] == inp + out
        assert grouped["$ld:ai:tool_call"][0]["data"]["toolKey"] == tool_key
        assert grouped["$ld:ai:generation:success"][0]["metricValue"] == 1


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------


def test_thousands_of_runs_on_threads_are_each_exact_with_no_duplicate_or_lost_event(roomy, sink):
    h = roomy
    threads, per_thread = 8, 250
    expected: dict[str, tuple[int, int, str]] = {}
    expected_lock = threading.Lock()
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    helpers = ThreadPoolExecutor(max_workers=4)

    def tool_elsewhere(ctx, name: str) -> None:
        # Work handed to another thread with the run's context carried explicitly.
        token = otel_context.attach(ctx)
        try:
            with tool(h.tracer, name):
                chat(h.tracer, 1, 1)
        finally:
            otel_context.detach(token)

    def worker(t: int) -> None:
        try:
            start.wait(timeout=30)
            for k in range(per_thread):
                i = t * per_thread + k
                name = "tool-%d" % (i % 5)
                with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
                    chat(h.tracer, i, 2 * i)
                    if k % 10 == 0:
                        helpers.submit(tool_elsewhere, otel_context.get_current(), name).result(timeout=30)
                    else:
                        with tool(h.tracer, name):
                            chat(h.tracer, 1, 1)
                with expected_lock:
                    expected[run.run_id] = (i + 1, 2 * i + 1, name)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    helpers.shutdown(wait=True)
    assert not errors
    assert not any(w.is_alive() for w in workers)
    assert len(expected) == threads * per_thread

    events = flush_events(h.ld_client, sink, h.processor, timeout_s=30)
    assert len(events) == 6 * threads * per_thread
    assert_exact(events_by_run(events), expected)
    assert h.processor.open_runs == 0 and h.processor.tracked_spans == 0


def test_one_run_fed_by_many_threads_at_once_adds_up_exactly(roomy, sink):
    h = roomy
    threads, spans = 8, 100
    start = threading.Barrier(threads)

    def feed(ctx) -> None:
        token = otel_context.attach(ctx)
        try:
            start.wait(timeout=30)
            for _ in range(spans):
                chat(h.tracer, 3, 2)
        finally:
            otel_context.detach(token)

    with ai_run(h.config, h.user, tracer_provider=h.provider) as run:
        ctx = otel_context.get_current()
        feeders = [threading.Thread(target=feed, args=(ctx,)) for _ in range(threads)]
        for f in feeders:
            f.start()
        for f in feeders:
            f.join(timeout=60)
    assert not any(f.is_alive() for f in feeders)

    grouped = events_by_run(flush_events(h.ld_client, sink, h.processor))[run.run_id]
    assert grouped["$ld:ai:tokens:total"][0]["metricValue"] == threads * spans * 5
    assert grouped["$ld:ai:tokens:input"][0]["metricValue"] == threads * spans * 3
    assert all(len(group) == 1 for group in grouped.values())


def test_thousands_of_interleaved_asyncio_runs_are_each_exact(roomy, sink):
    h = roomy
    runs = 1500

    async def request(i: int) -> tuple[str, tuple[int, int, str]]:
        async with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
            await asyncio.sleep(0)
            chat(h.tracer, i, 1)
            await asyncio.sleep(0)
            with tool(h.tracer, "lookup"):
                await asyncio.sleep(0)
            chat(h.tracer, 2, i)
            await asyncio.sleep(0)
        return run.run_id, (i + 2, i + 1, "lookup")

    async def main() -> list[tuple[str, tuple[int, int, str]]]:
        return await asyncio.gather(*(request(i) for i in range(runs)))

    expected = dict(asyncio.run(main()))
    assert len(expected) == runs

    events = flush_events(h.ld_client, sink, h.processor, timeout_s=30)
    assert len(events) == 6 * runs
    assert_exact(events_by_run(events), expected)
    assert h.processor.open_runs == 0 and h.processor.tracked_spans == 0


# --------------------------------------------------------------------------
# Faults at the LaunchDarkly events endpoint
# --------------------------------------------------------------------------


def app_requests(h: Harness, count: int = 50) -> list[str]:
    """The app's request handler, run ``count`` times; returns its answers."""
    answers = []
    for i in range(count):
        with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True):
            chat(h.tracer, 10, i)
            with tool(h.tracer, "search"):
                pass
            answers.append("answer-%d" % i)
    return answers


class HangingEndpoint:
    """A 127.0.0.1 server that accepts connections, reads requests and never answers."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._stop = threading.Event()
        self._received = threading.Condition()
        self.requests: list[bytes] = []
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="hanging-endpoint", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return "http://127.0.0.1:%d" % self._listener.getsockname()[1]

    def _serve(self) -> None:
        watched = [self._listener]
        while not self._stop.is_set():
            readable, _, _ = select.select(watched, [], [], 0.05)
            for sock in readable:
                if sock is self._listener:
                    connection, _ = sock.accept()
                    self._connections.append(connection)
                    watched.append(connection)
                    continue
                data = sock.recv(65536)
                if not data:
                    watched.remove(sock)
                    continue
                with self._received:
                    self.requests.append(data)
                    self._received.notify_all()

    def wait_for_request(self, marker: bytes, timeout_s: float = 10.0) -> bool:
        with self._received:
            return self._received.wait_for(lambda: any(marker in r for r in self.requests), timeout=timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._connections:
            connection.close()
        self._listener.close()


def no_errors_from_us(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("ldai_otel") and r.levelno >= logging.ERROR]


def test_events_endpoint_answering_500_never_reaches_the_app(test_data, caplog):
    with LDEventSink(status=500) as failing:
        client = make_client(failing.uri, test_data, timeout_s=2)
        h = Harness(client)
        try:
            with caplog.at_level(logging.WARNING):
                assert app_requests(h) == ["answer-%d" % i for i in range(50)]
                assert h.processor.force_flush() is True
                # The client did try to deliver our events and was refused.
                assert failing.wait_for_event(lambda e: e.get("key") == "$ld:ai:tokens:total")
                assert app_requests(h, 5) == ["answer-%d" % i for i in range(5)]
            assert no_errors_from_us(caplog) == []
        finally:
            h.close()
            client.close()


def test_events_endpoint_refusing_connections_never_reaches_the_app(test_data, caplog):
    # A bound socket that does not listen: every connection is refused, and
    # the port cannot be taken by anyone else while the test runs.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    try:
        client = make_client("http://127.0.0.1:%d" % closed.getsockname()[1], test_data, timeout_s=2)
        h = Harness(client)
        try:
            with caplog.at_level(logging.WARNING):
                assert app_requests(h) == ["answer-%d" % i for i in range(50)]
                assert h.processor.force_flush() is True
                assert app_requests(h, 5) == ["answer-%d" % i for i in range(5)]
                assert h.processor.force_flush() is True
            assert no_errors_from_us(caplog) == []
        finally:
            h.close()
            client.close()
    finally:
        closed.close()


def test_events_endpoint_that_hangs_never_holds_the_app_thread(test_data, caplog):
    endpoint = HangingEndpoint()
    try:
        client = make_client(endpoint.uri, test_data, timeout_s=1)
        h = Harness(client)
        try:
            with caplog.at_level(logging.WARNING):
                assert app_requests(h) == ["answer-%d" % i for i in range(50)]
                assert h.processor.force_flush() is True
                # The client's POST is in flight and unanswered ...
                assert endpoint.wait_for_request(b"$ld:ai:tokens:total")
                # ... while the app keeps serving requests.
                assert app_requests(h, 5) == ["answer-%d" % i for i in range(5)]
                assert h.processor.force_flush() is True
            assert no_errors_from_us(caplog) == []
        finally:
            h.close()
            client.close()  # bounded by the client's 1 s HTTP timeouts (and its one retry)
    finally:
        endpoint.close()


def test_client_closed_mid_run_never_reaches_the_app(sink, test_data, caplog):
    client = make_client(sink.uri, test_data)
    h = Harness(client)
    closed = False
    try:
        with caplog.at_level(logging.WARNING):
            with ai_run(h.config, h.user, tracer_provider=h.provider):
                chat(h.tracer, 5, 5)
                client.close()  # the app shuts its client down while a run is open
                closed = True
                chat(h.tracer, 5, 5)
                with tool(h.tracer, "search"):
                    pass
            assert app_requests(h, 10) == ["answer-%d" % i for i in range(10)]
            assert isinstance(h.processor.force_flush(), bool)
        h.provider.shutdown()  # shutdown after the client is gone: still silent
        assert no_errors_from_us(caplog) == []
    finally:
        if not closed:  # LDClient.close is not idempotent with TestData
            client.close()


# --------------------------------------------------------------------------
# Pre-fork servers
# --------------------------------------------------------------------------


def _child_serves(h: Harness, runs: int, out_fd: int) -> None:
    """A forked worker's life: reinitialize the client, serve runs, report, exit."""
    code = 1
    try:
        signal.alarm(60)  # a deadlocked child dies instead of hanging the suite
        h.ld_client.postfork()
        report = {}
        for i in range(runs):
            with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
                chat(h.tracer, 100 + i, os.getpid() % 1000)
                with tool(h.tracer, "child-tool"):
                    pass
            report[run.run_id] = [100 + i, os.getpid() % 1000]
        ok = h.processor.force_flush()
        h.ld_client.close()  # flushes and waits for the client's delivery workers
        os.write(out_fd, json.dumps({"ok": ok, "runs": report}).encode())
        code = 0
    except BaseException:
        logging.getLogger(__name__).exception("forked child failed")
        code = 2
    finally:
        os._exit(code)


def _wait_for_exit(pid: int, timeout_s: float = 90.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("forked child %d did not exit" % pid)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_pre_fork_workers_emit_their_runs_and_never_the_parents(roomy, sink):
    h = roomy
    # The parent has a run open (and a span of it ended) when it forks.
    parent_scope = ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True)
    parent_run = parent_scope.__enter__()
    chat(h.tracer, 7, 3)

    children = []
    for _ in range(2):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child_serves(h, 20, write_fd)  # never returns
        os.close(write_fd)
        children.append((pid, read_fd))

    reports = []
    for pid, read_fd in children:
        try:
            output = _read_all(read_fd)
        finally:
            os.close(read_fd)
        assert _wait_for_exit(pid) == 0
        report = json.loads(output)
        assert report["ok"] is True
        reports.append(report["runs"])

    with tool(h.tracer, "parent-tool"):
        pass
    parent_scope.__exit__(None, None, None)

    # The children delivered before exiting; the parent's flush marker then
    # arrives after their payloads.
    events = flush_events(h.ld_client, sink, h.processor)
    runs = events_by_run(events)
    expected = {run_id: (inp, out, "child-tool") for report in reports for run_id, (inp, out) in report.items()}
    expected[parent_run.run_id] = (7, 3, "parent-tool")
    assert len(expected) == 41
    assert_exact(runs, expected)  # the parent's run exactly once: no child emitted it
