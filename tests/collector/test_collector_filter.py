"""A Collector-side filter: serve receives only the traces that hold a run.

examples/collector/collector-tail-sampling.yaml, run for real.

``tail_sampling`` keeps a whole trace when a span in it carries ``ld.ai_config.key``.
The tracing backend still gets every span; serve gets exactly the spans of the
runs' traces (none of the plain traces), and every run arrives once, whole.
serve's CPU with and without the filter: benchmarks/collector_filter_bench.py.
"""

from __future__ import annotations

from apps import Apps, run_counts, tally
from otelcol import EXAMPLES, SpanBackend, start_collector, wait_until
from serve_support import metrics_of, start_serve

CONFIG = EXAMPLES / "collector-tail-sampling.yaml"
RUNS, PLAIN = 40, 60


def test_serve_gets_exactly_the_traces_that_hold_a_run(sink, tmp_path):
    with SpanBackend() as backend, start_serve(sink, tmp_path, "--decision-wait", "1") as serve:
        sets = (
            "exporters::otlp_grpc/backend::endpoint=%s" % backend.endpoint,
            "exporters::otlp_grpc/backend::tls::insecure=true",
            "exporters::otlp_grpc/ldai::endpoint=%s" % serve.grpc_endpoint,
            "processors::tail_sampling/ldai-runs::decision_wait=2s",
        )
        with (
            start_collector(CONFIG, tmp_path, *sets) as collector,
            Apps(collector.grpc_endpoint, collector.http_url) as apps,
        ):
            runs = {}
            for n in range(RUNS):
                run_id, tokens = apps.run(n)
                runs[run_id] = tokens
                apps.plain()
                if n % 2:
                    apps.plain()
            apps.flush()
            wait_until(lambda: len(backend.span_ids) >= RUNS * 7 + PLAIN * 4, 60, "every span at the backend")
            wait_until(lambda: all(sink.ai_events(r) for r in runs), 60, "every run at the sink")
            assert collector.stop() == 0
            apps.shutdown()
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert len(backend.span_ids) == RUNS * 7 + PLAIN * 4  # the backend: everything
    assert len(backend.trace_ids) == RUNS + PLAIN
    assert metrics["ldai_otel_serve_spans_received_total"] == RUNS * 7  # serve: the runs' traces only
    assert metrics['ldai_otel_serve_spans_skipped_total{reason="in_no_run"}'] == 0
    assert tally(sink, runs) == {"sent": RUNS, "once": RUNS, "lost": 0, "duplicated": 0, "partial": 0}
    assert all(set(run_counts(sink, r).values()) == {1} for r in runs)
