"""``ldai-otel serve``'s transport security: bearer token and TLS on both listeners, refusals counted.

The certificate is made by the test (``cryptography``: a self-signed CA-less
server certificate for 127.0.0.1); the real OTLP exporters are given it through
their own settings (``credentials`` for gRPC, ``certificate_file`` for HTTP)
and the token through their ``headers``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import urllib.error
import urllib.request
import uuid

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from genai import chat
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import export, metrics_of, start_serve

from ldai_otel.serve.command import exposure_warnings, is_loopback

ROOT = {"ld.ai_config.key": "chat-config", "ld.ai_config.variation_key": "v", "ld.ai_config.version": 1}


def make_certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def two_runs():
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "secure-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    run_ids = []
    for tokens in (7, 11):
        with tracer.start_as_current_span("agent", attributes=ROOT) as root:
            chat(tracer, tokens, 1)
        run_ids.append(str(uuid.UUID(int=root.get_span_context().trace_id)))
    spans = memory.get_finished_spans()
    provider.shutdown()
    return run_ids, [[s for s in spans if str(uuid.UUID(int=s.context.trace_id)) == r] for r in run_ids]


def test_token_and_tls_on_both_ports_with_the_real_exporters_and_refusals_are_counted(sink, tmp_path, monkeypatch):
    cert, key = make_certificate(tmp_path)
    # requests lets these variables override the exporter's certificate_file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    run_ids, (first, second) = two_runs()
    flags = ("--decision-wait", "0.3", "--tls-cert", str(cert), "--tls-key", str(key))
    with start_serve(sink, tmp_path, *flags, env={"LDAI_OTEL_SERVE_TOKEN": "s3cret"}) as serve:
        url = "https://127.0.0.1:%d/v1/traces" % serve.http_port
        credentials = grpc.ssl_channel_credentials(cert.read_bytes())
        # Without the token: refused, not retried (401 / UNAUTHENTICATED are not retryable in OTLP).
        no_token_grpc = GrpcExporter(endpoint=serve.grpc_endpoint, credentials=credentials, timeout=10)
        assert no_token_grpc.export(first) == SpanExportResult.FAILURE
        no_token_http = HttpExporter(endpoint=url, certificate_file=str(cert), timeout=10)
        assert no_token_http.export(first) == SpanExportResult.FAILURE
        wrong = {"authorization": "Bearer nope"}
        wrong_http = HttpExporter(endpoint=url, certificate_file=str(cert), headers=wrong, timeout=10)
        assert wrong_http.export(first) == SpanExportResult.FAILURE
        # Plain text on a TLS port does not get through either.
        with pytest.raises(OSError):  # the TLS listener drops a plain-text request
            urllib.request.urlopen(url.replace("https", "http"), data=b"", timeout=10)
        with_token = {"authorization": "Bearer s3cret"}
        grpc_exporter = GrpcExporter(endpoint=serve.grpc_endpoint, credentials=credentials, headers=with_token)
        export(grpc_exporter, first)
        export(HttpExporter(endpoint=url, certificate_file=str(cert), headers=with_token, timeout=10), second)
        metrics = metrics_of(serve, ssl.create_default_context(cafile=str(cert)))
        assert serve.terminate() == 0
    assert metrics['ldai_otel_serve_requests_refused_total{protocol="grpc",reason="unauthenticated"}'] == 1
    assert metrics['ldai_otel_serve_requests_refused_total{protocol="http",reason="unauthenticated"}'] == 2
    assert metrics["ldai_otel_serve_spans_received_total"] == 4
    for run_id, tokens in zip(run_ids, (7, 11), strict=True):
        got = {e["key"]: e["metricValue"] for e in sink.ai_events(run_id)}
        assert got["$ld:ai:tokens:input"] == tokens and got["$ld:ai:generation:success"] == 1
    assert "event=request_refused protocol=http reason=unauthenticated status=401" in serve.stderr
    assert "event=request_refused protocol=grpc reason=unauthenticated status=UNAUTHENTICATED" in serve.stderr
    assert "without a bearer token" not in serve.stderr  # loopback and a token: no warning


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("serve.internal", False),
    ],
)
def test_the_loopback_decision_on_listen_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_a_warning_at_start_for_each_listener_open_beyond_loopback_without_a_token():
    addresses = [("gRPC", ("0.0.0.0", 4317)), ("HTTP", ("127.0.0.1", 4318))]
    (warning,) = exposure_warnings(addresses, token="")
    assert "gRPC listens on 0.0.0.0:4317 without a bearer token" in warning and "LDAI_OTEL_SERVE_TOKEN" in warning
    assert exposure_warnings(addresses, token="s3cret") == []
    assert len(exposure_warnings([("gRPC", ("::", 4317)), ("HTTP", ("10.0.0.1", 4318))], token="")) == 2
    assert exposure_warnings([("gRPC", None), ("HTTP", ("127.0.0.1", 4318))], token="") == []
