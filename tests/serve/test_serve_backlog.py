"""While LaunchDarkly emission is behind, both receivers refuse with their retryable codes and keep nothing.

The receivers are started in this process (the real grpcio and aiohttp
servers, the real ``Ingest`` and trace buffer) with a backlog signal the test
turns on and off: reaching 5,000 queued run segments in a running serve needs
a LaunchDarkly client slower than any loopback sink. Requests are sent by the
real OTLP exporters' transports and by hand for the exact answers.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ldai_otel.dialects.reader import Dialects
from ldai_otel.otlp.decode import SpanDecoder
from ldai_otel.serve.receiver_http import HttpReceiver
from ldai_otel.serve.receivers import Ingest, start_grpc
from ldai_otel.serve.traces import TraceBuffer


def one_span_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "GET /"
    return request


@pytest.fixture
def receivers():
    behind = {"now": True}
    refusals: list[tuple] = []
    buffer = TraceBuffer(lambda segments: None, decision_wait_s=30.0)
    ingest = Ingest(
        SpanDecoder(Dialects()),
        buffer,
        backlogged=lambda: behind["now"],
        retry_after_s=3,
        on_refused=lambda *args: refusals.append(args[:3]),
    )
    server, grpc_port, _health = start_grpc(ingest, "127.0.0.1:0", 1 << 20, None)
    http = HttpReceiver(ingest, ("127.0.0.1", 0), 1 << 20, lambda: b"")
    http_port = http.start()
    yield behind, buffer, refusals, grpc_port, http_port
    server.stop(0).wait(10)
    http.stop()


def test_emission_behind_answers_503_and_unavailable_then_accepts_again(receivers):
    behind, buffer, refusals, grpc_port, http_port = receivers
    body = one_span_request().SerializeToString()
    url = "http://127.0.0.1:%d/v1/traces" % http_port
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert (refused.value.code, refused.value.headers["Retry-After"]) == (503, "3")
    with grpc.insecure_channel("127.0.0.1:%d" % grpc_port) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as unavailable:
            stub.Export(one_span_request(), timeout=10)
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "LaunchDarkly event emission is behind" in unavailable.value.details()
        assert buffer.spans == 0 and buffer.stats.spans_received == 0
        behind["now"] = False  # caught up: the same requests are taken
        stub.Export(one_span_request(), timeout=10)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert (buffer.stats.spans_received, buffer.spans) == (2, 1)  # the same span twice: held once
    assert refusals == [("http", "launchdarkly_behind", 503), ("grpc", "launchdarkly_behind", "UNAVAILABLE")]
