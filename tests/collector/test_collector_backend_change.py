"""The backend list changes mid-stream: an instance joins, another leaves (the dns resolver example).

examples/collector/collector-loadbalancing-dns.yaml: its ``dns`` resolver looks up a
name that resolves to every serve instance. The test gives the Collector its own
/etc/hosts (a private mount namespace, ``unshare -m``: the machine's file is
untouched) naming 127.0.0.2 and .3, each running serve on the same port;
mid-stream it adds 127.0.0.4, then drops 127.0.0.2 and, once the ring no longer
holds it, stops that instance with SIGTERM (it drains). Apps keep sending runs
whose spans leave in several batches over about a second.

About a third of the trace ids move at each change. Without ``groupbytrace`` in
serve's pipeline, a run whose first spans went to the old owner and the rest to the
new one is split: the instance with the root emits the run without the other's
spans, which it never sees (they are counted ``unresolved`` there). With
``groupbytrace`` (the published configuration) each trace leaves the Collector in
one piece and is routed once: every run arrives once, whole. The variant without it
is measured and printed (docs/collector.md has the numbers).
"""

from __future__ import annotations

import itertools
import shutil
import socket
import threading
import time
from contextlib import ExitStack

import pytest
from apps import Apps, tally
from otelcol import EXAMPLES, SpanBackend, start_collector, wait_until
from serve_support import metrics_of, start_serve

CONFIG = EXAMPLES / "collector-loadbalancing-dns.yaml"
NAME = "ldai-serve.collector.test"
# Runs the Collector with the test's hosts file bound over /etc/hosts, in its own mount namespace.
UNSHARE = ("unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"')


def shared_port(hosts: list[str]) -> int:
    """A port free on every loopback address in ``hosts`` (the dns resolver uses one port for all)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((hosts[0], 0))
            port = int(first.getsockname()[1])
            try:
                for host in hosts[1:]:
                    with socket.socket() as other:
                        other.bind((host, port))
            except OSError:
                continue
            return port
    pytest.fail("no port free on all of %s" % hosts)


class Stream:
    """Worker threads making paced runs (and plain traces) until stopped; the runs they made."""

    def __init__(self, apps: Apps, workers: int = 8, pace_s: float = 0.3):
        self.runs: dict[str, int] = {}
        self._apps, self._pace = apps, pace_s
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work) for _ in range(workers)]

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                n = next(self._numbers)
            run_id, tokens = self._apps.run(n, self._pace)
            with self._lock:
                self.runs[run_id] = tokens
            if n % 4 == 0:
                self._apps.plain()

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def received(serve) -> float:
    return metrics_of(serve)["ldai_otel_serve_spans_received_total"]


def settled(serve) -> bool:
    """Its spans_received did not move over a second (it is out of the ring)."""
    before = received(serve)
    time.sleep(1.0)
    return received(serve) == before


@pytest.mark.parametrize("grouping", ["groupbytrace", "none"])
def test_an_instance_added_and_one_removed_mid_stream(grouping, sink, tmp_path):
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is needed to give the Collector its own /etc/hosts")
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    port = shared_port(addresses)
    hosts = tmp_path / "hosts"

    def name_resolves_to(*members: str) -> None:
        # In place (same inode): the bind mount shows the new content.
        with open(hosts, "w") as out:
            out.write("127.0.0.1 localhost\n" + "".join("%s %s\n" % (a, NAME) for a in members))

    name_resolves_to(addresses[0], addresses[1])
    flags = ("--decision-wait", "1", "--retention", "4")
    sets = [
        "exporters::load_balancing/ldai::resolver::dns::hostname=%s" % NAME,
        'exporters::load_balancing/ldai::resolver::dns::port="%d"' % port,
        "exporters::load_balancing/ldai::resolver::dns::interval=500ms",
        "exporters::otlp_grpc/backend::tls::insecure=true",
        # Margin for a loaded test machine: a trace must reach the Collector within the wait.
        "processors::groupbytrace::wait_duration=5s",
    ]
    if grouping == "none":
        sets.append("service::pipelines::traces/ldai::processors=[]")
    with ExitStack() as stack:
        backend = stack.enter_context(SpanBackend())
        sets.append("exporters::otlp_grpc/backend::endpoint=%s" % backend.endpoint)
        fleet = [
            stack.enter_context(start_serve(sink, tmp_path, *flags, "--grpc", "%s:%d" % (address, port)))
            for address in addresses
        ]
        prefix = (*UNSHARE, str(hosts))
        collector = stack.enter_context(start_collector(CONFIG, tmp_path, *sets, prefix=prefix))
        apps = stack.enter_context(Apps(collector.grpc_endpoint, collector.http_url, delay_ms=100))
        with Stream(apps) as stream:
            wait_until(lambda: received(fleet[0]) > 0 and received(fleet[1]) > 0, 60, "both first instances fed")
            name_resolves_to(*addresses)  # an instance joins
            wait_until(lambda: received(fleet[2]) > 0, 60, "the new instance in the ring")
            time.sleep(2)
            name_resolves_to(addresses[1], addresses[2])  # one leaves the ring
            wait_until(lambda: settled(fleet[0]), 60, "the removed instance out of the ring")
            # Its retention over, spans it could not place are counted; then it stops (drains).
            wait_until(lambda: metrics_of(fleet[0])["ldai_otel_serve_traces_held"] == 0, 60, "no trace held")
            removed = metrics_of(fleet[0])
            assert fleet[0].terminate() == 0
            time.sleep(2)
        apps.flush()
        runs = stream.runs
        wait_until(lambda: all(sink.ai_events(r) for r in runs), 60, "an event of every run")
        # Retention over: every trace decided for good, unplaceable spans counted.
        wait_until(
            lambda: all(metrics_of(s)["ldai_otel_serve_traces_held"] == 0 for s in fleet[1:]), 60, "no trace held"
        )
        metrics = [removed, *(metrics_of(s) for s in fleet[1:])]
        assert collector.stop() == 0
        apps.shutdown()
        for serve in fleet[1:]:
            assert serve.terminate() == 0
    result = tally(sink, runs)
    unresolved = sum(m['ldai_otel_serve_spans_skipped_total{reason="unresolved"}'] for m in metrics)
    late = sum(m["ldai_otel_serve_late_spans_total"] for m in metrics)
    print("backend change (%s): %s; spans unresolved %d, late %d" % (grouping, result, unresolved, late))
    assert result["lost"] == result["duplicated"] == 0, result
    if grouping == "groupbytrace":
        assert result["once"] == result["sent"], result
        assert unresolved == 0
