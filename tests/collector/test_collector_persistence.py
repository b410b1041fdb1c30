"""Crashes on both sides: the Collector's queue on disk plus serve's spool (``--state-dir``).

The durable variant of the static-list configuration: the exporter's queue in
``file_storage`` and no ``groupbytrace`` before it (which would hold acknowledged
traces in memory first). One of three serve instances is not up yet, so a third of
the acknowledged traces wait in the Collector's queue; the Collector is SIGKILLed
with them there. That instance starts (``--state-dir``), the Collector restarts on
the same queue directory and replays the queue into it; once it holds undecided
runs it is SIGKILLed too, and restarts on the same state directory. Every run the
apps' exporters saw acknowledged arrives, none partial.
"""

from __future__ import annotations

from contextlib import ExitStack

from apps import Apps, tally
from otelcol import EXAMPLES, SpanBackend, free_port, start_collector, wait_until
from serve_support import metrics_of, start_serve

CONFIG = EXAMPLES / "collector-loadbalancing.yaml"
RUNS = 120


def test_sigkill_of_the_collector_then_of_a_serve_instance_loses_no_acknowledged_run(sink, tmp_path):
    ports = [free_port() for _ in range(3)]
    state = [tmp_path / ("state-%d" % i) for i in range(3)]

    def serve_flags(i: int) -> tuple[str, ...]:
        return ("--decision-wait", "5", "--grpc", "127.0.0.1:%d" % ports[i], "--state-dir", str(state[i]))

    sets = (
        "exporters::load_balancing/ldai::resolver::static::hostnames=[%s]"
        % ",".join("127.0.0.1:%d" % p for p in ports),
        "exporters::otlp_grpc/backend::tls::insecure=true",
        "extensions::file_storage/ldai::directory=%s" % (tmp_path / "queue"),
        "service::pipelines::traces/ldai::processors=[]",  # the durable variant
    )
    with ExitStack() as stack:
        backend = stack.enter_context(SpanBackend())
        sets = (*sets, "exporters::otlp_grpc/backend::endpoint=%s" % backend.endpoint)
        fleet = [None, *(stack.enter_context(start_serve(sink, tmp_path, *serve_flags(i))) for i in (1, 2))]
        first = stack.enter_context(start_collector(CONFIG, tmp_path, *sets, extensions=("file_storage/ldai",)))
        apps = stack.enter_context(Apps(first.grpc_endpoint, first.http_url))
        runs = dict(apps.run(n) for n in range(RUNS))
        apps.flush()  # every span acknowledged by the Collector
        wait_until(lambda: sum(metrics_of(s)["ldai_otel_serve_runs_emitted_total"] for s in fleet[1:]) > 0, 60, "runs")
        first.proc.kill()  # SIGKILL, serve 0's share still in the queue on disk
        first.proc.wait(timeout=30)
        fleet[0] = stack.enter_context(start_serve(sink, tmp_path, *serve_flags(0)))
        ports_again = (first.grpc_port, first.http_port)
        stack.enter_context(
            start_collector(CONFIG, tmp_path, *sets, extensions=("file_storage/ldai",), ports=ports_again)
        )
        wait_until(lambda: metrics_of(fleet[0])["ldai_otel_serve_spans_held"] > 0, 60, "serve 0 holding replayed spans")
        fleet[0].proc.kill()  # SIGKILL, holding undecided runs it acknowledged
        fleet[0].proc.wait(timeout=30)
        fleet[0] = stack.enter_context(start_serve(sink, tmp_path, *serve_flags(0)))
        wait_until(lambda: all(sink.ai_events(r) for r in runs), 120, "every acknowledged run at the sink")
        apps.shutdown()
        for serve in fleet:
            assert serve.terminate() == 0
    result = tally(sink, runs)
    print("collector persistence (c):", result)
    assert result["lost"] == result["partial"] == 0, result
    # A batch in flight at a kill is sent again; serve counts a span once while it remembers
    # its trace, and the spool's documented bound on runs counted twice applies across restarts.
    assert result["duplicated"] == 0, result
