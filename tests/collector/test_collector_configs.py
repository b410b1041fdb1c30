"""Every Collector configuration the project publishes (examples/collector/) is loaded by a real Collector.

``otelcol validate`` checks each file against the pinned components (names,
fields, pipelines, the resolvers' settings); the single-serve fork then runs for
real: apps -> Collector -> the tracing backend (every span) and serve (every run
once). The load-balancing configurations run in test_collector_e2e.py and
test_collector_backend_change.py, the filter in test_collector_filter.py. The
Kubernetes variant is validated, and started up to its ``k8s`` resolver, which
needs a cluster's API to start.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from apps import Apps, tally
from otelcol import EXAMPLES, SpanBackend, collector_binary, free_port, start_collector, validate, wait_until
from serve_support import start_serve

from ldai_otel.serve.command import OPTIONS

PUBLISHED = {
    "collector-with-serve.yaml",
    "collector-loadbalancing.yaml",
    "collector-loadbalancing-dns.yaml",
    "collector-loadbalancing-k8s.yaml",
    "collector-tail-sampling.yaml",
}
# Kubernetes manifests of serve's own side (not Collector configurations).
MANIFESTS = {"serve-statefulset-k8s.yaml"}
TOKEN = {"LDAI_OTEL_SERVE_TOKEN": "collector-test-token"}


def test_the_list_below_is_every_published_configuration():
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == PUBLISHED | MANIFESTS


def test_the_statefulset_keeps_each_instance_spool_on_its_own_claim():
    # No cluster here: the manifest is read as Kubernetes would, and its serve settings
    # are checked against serve's own variables.
    docs = list(yaml.safe_load_all((EXAMPLES / "serve-statefulset-k8s.yaml").read_text()))
    service = next(d for d in docs if d["kind"] == "Service")
    stateful = next(d for d in docs if d["kind"] == "StatefulSet")
    assert service["spec"]["clusterIP"] == "None"  # headless: the resolvers see every pod
    assert stateful["spec"]["serviceName"] == service["metadata"]["name"]
    container = stateful["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    known = {option.env for option in OPTIONS} | {"LAUNCHDARKLY_SDK_KEY", "LDAI_OTEL_SERVE_TOKEN"}
    assert set(env) <= known
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [c["metadata"]["name"] for c in stateful["spec"]["volumeClaimTemplates"]]
    assert claims == ["state"]
    assert env["LDAI_OTEL_SERVE_STATE_DIR"] == mounts["state"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_collector_validates_the_published_configuration(name):
    result = validate(EXAMPLES / name, env=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_checks_the_k8s_resolver_settings():
    # Evidence that validation reads the resolver block: a second resolver is refused.
    config = EXAMPLES / "collector-loadbalancing-k8s.yaml"
    result = validate(config, "exporters::load_balancing/ldai::resolver::dns::hostname=serve.example", env=TOKEN)
    assert result.returncode != 0
    assert "resolver" in (result.stdout + result.stderr).lower()
    result = validate(config, "exporters::load_balancing/ldai::routing_key=metric", env=TOKEN)
    assert result.returncode != 0


def test_the_fork_sends_every_span_to_the_backend_and_every_run_once_to_serve(sink, tmp_path):
    with SpanBackend() as backend, start_serve(sink, tmp_path, "--decision-wait", "1") as serve:
        sets = (
            "exporters::otlp_grpc/backend::endpoint=%s" % backend.endpoint,
            "exporters::otlp_grpc/backend::tls::insecure=true",
            "exporters::otlp_grpc/ldai::endpoint=%s" % serve.grpc_endpoint,
        )
        with (
            start_collector(EXAMPLES / "collector-with-serve.yaml", tmp_path, *sets) as collector,
            Apps(collector.grpc_endpoint, collector.http_url) as apps,
        ):
            runs = dict(apps.run(n) for n in range(20))
            for _ in range(10):
                apps.plain()
            apps.flush()
            wait_until(lambda: len(backend.span_ids) >= 20 * 7 + 10 * 4, 60, "every span at the backend")
            wait_until(lambda: all(sink.ai_events(r) for r in runs), 60, "every run at the sink")
            assert collector.stop() == 0
            apps.shutdown()
        assert serve.terminate() == 0
    assert len(backend.span_ids) == len(set(backend.span_ids)) == 20 * 7 + 10 * 4
    assert tally(sink, runs) == {"sent": 20, "once": 20, "lost": 0, "duplicated": 0, "partial": 0}


def test_the_k8s_variant_starts_everything_but_its_resolver_which_needs_a_cluster(tmp_path):
    # Outside Kubernetes the Collector builds every component and fails at the resolver's start,
    # for want of a cluster's API, and only there.
    sets = (
        "receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d" % free_port(),
        "receivers::otlp::protocols::http::endpoint=127.0.0.1:%d" % free_port(),
        "extensions::health_check::endpoint=127.0.0.1:%d" % free_port(),
        "extensions::file_storage/ldai::directory=%s" % (tmp_path / "queue"),
        "service::telemetry::metrics::level=none",
    )
    argv = [collector_binary(), "--config", str(EXAMPLES / "collector-loadbalancing-k8s.yaml")]
    result = subprocess.run(
        [*argv, *("--set=%s" % s for s in sets)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **TOKEN},
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'failed to start "load_balancing/ldai" exporter' in output, output
    assert "KUBERNETES_MASTER" in output, output
