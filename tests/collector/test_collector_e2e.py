"""Apps -> a real Collector -> ``load_balancing`` by trace id -> three ``ldai-otel serve`` instances.

The published static-list configuration (examples/collector/collector-loadbalancing.yaml)
runs with its backends, queue directory and receiver moved to loopback. The apps
use the SDK's OTLP exporters (gRPC and HTTP), each serve a real LaunchDarkly
client sending to the test's sink.

- every run arrives exactly once, each whole on one instance (its downstream
  service's tokens included; no instance is left with spans it cannot place);
- serve's backpressure (``--max-spans`` far below the burst: RESOURCE_EXHAUSTED
  with RetryInfo) is held by the exporter's queue and retried: nothing lost.
"""

from __future__ import annotations

from contextlib import ExitStack

from apps import Apps, run_counts, tally
from otelcol import EXAMPLES, SpanBackend, start_collector, wait_until
from serve_support import metrics_of, start_serve

CONFIG = EXAMPLES / "collector-loadbalancing.yaml"


def loadbalancing_sets(fleet, backend, tmp_path) -> tuple[str, ...]:
    """The static list pointed at ``fleet``, the tracing backend at ``backend``, the queue in tmp_path."""
    return (
        "exporters::load_balancing/ldai::resolver::static::hostnames=[%s]" % ",".join(s.grpc_endpoint for s in fleet),
        "exporters::otlp_grpc/backend::endpoint=%s" % backend.endpoint,
        "exporters::otlp_grpc/backend::tls::insecure=true",
        "extensions::file_storage/ldai::directory=%s" % (tmp_path / "queue"),
        # Margin for a loaded test machine: a trace must reach the Collector within the wait.
        "processors::groupbytrace::wait_duration=5s",
    )


def stop_all(fleet) -> list[dict[str, float]]:
    """Each instance's metrics, then SIGTERM (drain, flush) and exit 0."""
    metrics = [metrics_of(serve) for serve in fleet]
    for serve in fleet:
        assert serve.terminate() == 0
    return metrics


def test_three_instances_get_every_run_once_each_whole_on_one_instance(sink, tmp_path):
    with ExitStack() as stack:
        backend = stack.enter_context(SpanBackend())
        fleet = [stack.enter_context(start_serve(sink, tmp_path, "--decision-wait", "1")) for _ in range(3)]
        sets = loadbalancing_sets(fleet, backend, tmp_path)
        collector = stack.enter_context(start_collector(CONFIG, tmp_path, *sets, extensions=("file_storage/ldai",)))
        apps = stack.enter_context(Apps(collector.grpc_endpoint, collector.http_url))
        runs = dict(apps.run(n) for n in range(60))
        for _ in range(20):
            apps.plain()
        apps.flush()
        wait_until(lambda: all(sink.ai_events(r) for r in runs), 90, "every run at the sink")
        assert collector.stop() == 0
        apps.shutdown()
        metrics = stop_all(fleet)
    result = tally(sink, runs)
    print("collector e2e (a):", result, [m["ldai_otel_serve_runs_emitted_total"] for m in metrics])
    assert result == {"sent": 60, "once": 60, "lost": 0, "duplicated": 0, "partial": 0}
    assert sum(m["ldai_otel_serve_spans_received_total"] for m in metrics) == 60 * 7 + 20 * 4
    for m in metrics:
        assert m["ldai_otel_serve_runs_emitted_total"] > 0  # each instance got a share
        assert m['ldai_otel_serve_spans_skipped_total{reason="unresolved"}'] == 0
        assert m['ldai_otel_serve_spans_skipped_total{reason="duplicate"}'] == 0
    assert sum(m["ldai_otel_serve_runs_emitted_total"] for m in metrics) == 60
    assert sum(m["ldai_otel_serve_late_spans_total"] for m in metrics) == 0  # one segment per run
    assert all(set(run_counts(sink, r).values()) == {1} for r in runs)


def test_serve_backpressure_is_held_by_the_collector_queue_and_retried(sink, tmp_path):
    # Requests stay under --max-spans (64-span batches): a request over it is refused for good
    # (retrying cannot help), and the Collector drops it.
    max_spans = 80
    flags = ("--decision-wait", "0.5", "--max-spans", str(max_spans))
    with ExitStack() as stack:
        backend = stack.enter_context(SpanBackend())
        fleet = [stack.enter_context(start_serve(sink, tmp_path, *flags)) for _ in range(3)]
        sets = loadbalancing_sets(fleet, backend, tmp_path)
        collector = stack.enter_context(start_collector(CONFIG, tmp_path, *sets, extensions=("file_storage/ldai",)))
        apps = stack.enter_context(Apps(collector.grpc_endpoint, collector.http_url, batch=64, delay_ms=10))
        runs = dict(apps.run(n) for n in range(150))
        apps.flush()
        wait_until(lambda: all(sink.ai_events(r) for r in runs), 240, "every run at the sink")
        assert collector.stop() == 0
        apps.shutdown()
        metrics = stop_all(fleet)
    result = tally(sink, runs)
    refused = sum(m['ldai_otel_serve_spans_refused_total{reason="buffer_full"}'] for m in metrics)
    print("collector e2e (b):", result, "spans refused and resent:", refused)
    assert refused > 0  # serve pushed back, and the Collector held and resent
    assert result == {"sent": 150, "once": 150, "lost": 0, "duplicated": 0, "partial": 0}
    for m in metrics:
        assert m["ldai_otel_serve_spans_peak"] <= max_spans
        assert m["ldai_otel_serve_traces_evicted_total"] == 0
